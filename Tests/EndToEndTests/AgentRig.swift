import ControlPlaneTestSupport
import Foundation
import Logging
import NKudoContract
import NKudoControlPlane
import NKudoEdge
import NKudoEdgeGRPC
import ServiceLifecycle

/// An enrolled edge agent (production `EdgeAgent`, real Cloud Hypervisor provider driving
/// the fake VMM) running against a real control plane.
final class AgentRig: @unchecked Sendable {
    // @unchecked: `group` and `task` are set in `start` and read in `stop`, from one test.
    let root: String
    let identityStore: IdentityStore
    let state: EdgeStateStore
    let provider: CloudHypervisorProvider
    let harness: ControlPlaneHarness
    let format: WireFormat
    /// The protocol of the agent API.
    let transport: ControlPlaneProtocol
    let hostname: String
    private var group: ServiceGroup?
    private var task: Task<Void, any Error>?

    /// Enrolls a new agent of `fleet` as `hostname`, pinning the CA fingerprint.
    init(fleet: Fleet, format: WireFormat, transport: ControlPlaneProtocol = .rest, hostname: String = "rig") async throws {
        harness = fleet.harness
        self.format = format
        self.transport = transport
        self.hostname = hostname
        root = "/tmp/nkrig-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: root + "/vms", withIntermediateDirectories: true)
        identityStore = IdentityStore(directory: root + "/pki")
        let token = try await fleet.tenantClient.issueEnrollmentToken(IssueEnrollmentTokenRequest(tenantId: fleet.tenant.id, siteId: fleet.site.id))
        _ = try await Enroller(store: identityStore, logger: Self.logger).enroll(Enroller.Request(
            controlPlaneURL: harness.baseURL, token: token.token, hostname: hostname,
            trust: .pinnedCAFingerprint("sha256:" + token.caFingerprintSha256), format: format, agentVersion: "test"))
        state = try await EdgeStateStore.open(directory: root + "/state", logger: Self.logger)
        var configuration = CloudHypervisorConfiguration()
        configuration.cloudHypervisorBinary = try Self.fakeVMM()
        configuration.runtimeDirectory = root + "/vms"
        configuration.imageDirectories = [root + "/images"]
        configuration.imageCacheDirectory = root + "/image-cache"
        configuration.protectedDirectories = [root + "/pki", root + "/state"]
        configuration.isoTool = "/usr/bin/genisoimage"
        configuration.networking = .disabled
        configuration.blankDiskSizeMiB = 16
        configuration.startTimeout = 10
        configuration.stopTimeout = 3
        configuration.terminateTimeout = 2
        provider = CloudHypervisorProvider(configuration: configuration, logger: Self.logger)
    }

    static var logger: Logger {
        var logger = Logger(label: "test.edge")
        logger.logLevel = .warning
        return logger
    }

    /// The fake VMM built next to the tests (`swift build` builds it).
    static func fakeVMM() throws -> String {
        let candidates = [
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("fake-cloud-hypervisor").path,
            URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent(".build/debug/fake-cloud-hypervisor").path,
        ]
        guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw HarnessError("fake-cloud-hypervisor is not built (swift build --product fake-cloud-hypervisor)")
        }
        return found
    }

    func agent(maximumBackoff: Duration = .seconds(2), netBird: NetBirdMonitor? = nil) throws -> EdgeAgent {
        guard let identity = try identityStore.load() else { throw HarnessError("not enrolled") }
        let session = ControlPlaneSession(identity: identity, identityStore: identityStore, urls: [], format: format,
                                          transportProtocol: transport, grpc: EdgeGRPC.transportFactory, insecureSkipVerify: false,
                                          logger: Self.logger)
        var configuration = EdgeAgentConfiguration(agentVersion: "test", hostname: hostname)
        configuration.heartbeatInterval = .seconds(1)
        configuration.maximumBackoff = maximumBackoff
        return EdgeAgent(session: session, state: state, provider: provider, hostFacts: HostFactsCollector(), netBird: netBird,
                         configuration: configuration, logger: Self.logger)
    }

    /// Runs the agent as a service until ``stop()``.
    func start(netBird: NetBirdMonitor? = nil) throws {
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: [.init(service: try agent(netBird: netBird))],
                                                                          logger: Self.logger))
        self.group = group
        task = Task { try await group.run() }
    }

    /// Graceful shutdown, as on SIGTERM; waits until the agent returned.
    func stop() async throws {
        await group?.triggerGracefulShutdown()
        try await task?.value
    }

    /// Runs `body` against a control plane configured by `tweak`, with a fleet and an
    /// enrolled rig; stops and removes everything afterwards, also when `body` throws.
    static func with(format: WireFormat = .binary, transport: ControlPlaneProtocol = .rest, _ tweak: (inout ControlPlaneConfiguration) -> Void = { _ in },
                     _ body: (ControlPlaneHarness, Fleet, AgentRig) async throws -> Void) async throws {
        let harness = try await ControlPlaneHarness(tweak: tweak)
        var rig: AgentRig?
        do {
            let fleet = try await Fleet.create(harness)
            let enrolled = try await AgentRig(fleet: fleet, format: format, transport: transport)
            rig = enrolled
            try await body(harness, fleet, enrolled)
        } catch {
            await rig?.cleanUp()
            await harness.shutdown()
            throw error
        }
        await rig?.cleanUp()
        await harness.shutdown()
    }

    /// Stops the agent, removes every VM it left and its files.
    func cleanUp() async {
        try? await stop()
        for vm in (try? await provider.reconcileAll()) ?? [] {
            try? await provider.delete(vm.id)
        }
        try? FileManager.default.removeItem(atPath: root)
    }
}
