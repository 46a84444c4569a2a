import Foundation
import Logging
import NKudoContract
@testable import NKudoControlPlane
import NKudoEdge
import NKudoPKI
import ServiceLifecycle
import Testing

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
    let hostname: String
    private var group: ServiceGroup?
    private var task: Task<Void, any Error>?

    /// Enrolls a new agent of `fleet` as `hostname`, pinning the CA fingerprint.
    init(fleet: Fleet, format: WireFormat, hostname: String = "rig") async throws {
        harness = fleet.harness
        self.format = format
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
                                          insecureSkipVerify: false, logger: Self.logger)
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
    static func with(format: WireFormat = .binary, _ tweak: (inout ControlPlaneConfiguration) -> Void = { _ in },
                     _ body: (ControlPlaneHarness, Fleet, AgentRig) async throws -> Void) async throws {
        let harness = try await ControlPlaneHarness(tweak: tweak)
        var rig: AgentRig?
        do {
            let fleet = try await Fleet.create(harness)
            let enrolled = try await AgentRig(fleet: fleet, format: format)
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

@Suite("Edge agent run loop against the control plane", .serialized)
struct EdgeAgentRunLoopTests {
    /// Waits until every execution of `plan` is terminal; returns them.
    static func terminal(_ fleet: Fleet, _ applied: ApplyPlanResponse, seconds: Double = 60) async throws -> [Execution] {
        let ids = Set(applied.executions.map(\.id))
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let status = try await fleet.tenantClient.getStatus(GetStatusRequest(siteId: fleet.site.id))
            let executions = status.recentExecutions.filter { ids.contains($0.id) }
            if executions.count == ids.count, executions.allSatisfy({ [.succeeded, .failed, .cancelled].contains($0.state) }) {
                return executions
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw HarnessError("executions of plan \(applied.planId) not terminal within \(seconds) s")
    }

    static func vmState(_ fleet: Fleet, _ id: String) async throws -> MicroVM.State? {
        try await fleet.tenantClient.listMicroVMs(ListMicroVMsRequest(siteId: fleet.site.id)).vms.first { $0.id == id }?.state
    }

    @Test("create, start, stop and delete a VM through heartbeats, with results, logs and host state", arguments: [WireFormat.binary, .json])
    func lifecycle(format: WireFormat) async throws {
        try await AgentRig.with(format: format, { $0.heartbeatInterval = .seconds(1) }) { harness, fleet, rig in
            try rig.start()
            let created = try await fleet.tenantClient.applyPlan(ApplyPlanRequest(siteId: fleet.site.id, idempotencyKey: "up", actions: [
                .init(operation: .create, name: "web", vcpuCount: 2, memoryMib: 256),
            ]))
            let vmID = try #require(created.executions.first?.vmId)
            #expect(try await Self.terminal(fleet, created).map(\.state) == [.succeeded])
            let started = try await fleet.tenantClient.applyPlan(ApplyPlanRequest(siteId: fleet.site.id, idempotencyKey: "start", actions: [
                .init(operation: .start, vmId: vmID),
            ]))
            #expect(try await Self.terminal(fleet, started).map(\.state) == [.succeeded])
            #expect(try await Self.vmState(fleet, vmID) == .running)
            let vm = try #require(try await fleet.tenantClient.listMicroVMs(ListMicroVMsRequest(siteId: fleet.site.id)).vms.first { $0.id == vmID })
            #expect(vm.vcpuCount == 2 && vm.memoryMib == 256, "heartbeats report the VM's real size")
            let down = try await fleet.tenantClient.applyPlan(ApplyPlanRequest(siteId: fleet.site.id, idempotencyKey: "down", actions: [
                .init(operation: .stop, vmId: vmID), .init(operation: .delete, vmId: vmID),
            ]))
            #expect(try await Self.terminal(fleet, down).map(\.state) == [.succeeded, .succeeded])
            let logs = try await fleet.tenantClient.listExecutionLogs(ListExecutionLogsRequest(executionId: down.executions[0].id, limit: 50))
            #expect(logs.logs.contains { $0.message == "action completed" }, "log lines are shipped: \(logs.logs.map(\.message))")
            let status = try await fleet.tenantClient.getStatus(GetStatusRequest(siteId: fleet.site.id))
            #expect(status.hosts.first?.agentState == .online)
            #expect(status.hosts.first?.hostname == "rig")
            // The heartbeat carries the facts as totals; the host shows this machine's.
            let facts = try HostFactsCollector().collect()
            let host = try #require(status.hosts.first)
            #expect(host.cpuCoresTotal == facts.cpuCores && host.memoryBytesTotal == facts.memoryTotalBytes)
            #expect(host.storageBytesTotal == facts.disks.reduce(0) { $0 + $1.totalBytes } && host.storageBytesTotal > 0)
            #expect(host.kvmAvailable == (facts.kvm.map { $0.present && $0.readable && $0.writable } ?? false))
            try await rig.stop()
            #expect(try await rig.state.outboxCount() == 0)
            #expect(try await rig.provider.reconcileAll().isEmpty)
        }
    }

    @Test("the control plane restarted mid-run: the agent backs off, comes back, and nothing is lost")
    func controlPlaneRestart() async throws {
        try await AgentRig.with(format: .binary, { $0.heartbeatInterval = .seconds(1) }) { harness, fleet, rig in
            try rig.start()
            let created = try await fleet.tenantClient.applyPlan(ApplyPlanRequest(siteId: fleet.site.id, idempotencyKey: "a", actions: [
                .init(operation: .create, name: "a"),
            ]))
            let vmID = try #require(created.executions.first?.vmId)
            let startPlan = try await fleet.tenantClient.applyPlan(ApplyPlanRequest(siteId: fleet.site.id, idempotencyKey: "b", actions: [
                .init(operation: .start, vmId: vmID),
            ]))
            _ = try await Self.terminal(fleet, startPlan)
            #expect(try await Self.vmState(fleet, vmID) == .running)
            await harness.stopServing()
            try await Task.sleep(for: .seconds(3))
            try await harness.resumeServing()
            let stopPlan = try await fleet.tenantClient.applyPlan(ApplyPlanRequest(siteId: fleet.site.id, idempotencyKey: "c", actions: [
                .init(operation: .stop, vmId: vmID), .init(operation: .delete, vmId: vmID),
            ]))
            #expect(try await Self.terminal(fleet, stopPlan).map(\.state) == [.succeeded, .succeeded])
            try await rig.stop()
            #expect(try await rig.state.outboxCount() == 0)
        }
    }

    @Test("results queued while the control plane is down are delivered once it is back")
    func outboxAcrossOutage() async throws {
        try await AgentRig.with(format: .binary, { $0.heartbeatInterval = .seconds(1) }) { harness, fleet, rig in
            let applied = try await fleet.tenantClient.applyPlan(ApplyPlanRequest(siteId: fleet.site.id, idempotencyKey: "o", actions: [
                .init(operation: .create, name: "o"),
            ]))
            let identity = try #require(try rig.identityStore.load())
            let session = ControlPlaneSession(identity: identity, identityStore: rig.identityStore, urls: [], format: .binary,
                                              insecureSkipVerify: false, logger: AgentRig.logger)
            let leased = try await session.client().heartbeat(HeartbeatRequest(hostname: "rig")).pendingPlans
            #expect(leased.count == 1)
            let executor = PlanExecutor(provider: rig.provider, ledger: rig.state, logSink: OutboxLogSink(store: rig.state, logger: AgentRig.logger),
                                        logger: AgentRig.logger)
            let report = await executor.execute(try #require(leased.first))
            #expect(report.failure == nil)
            let outbox = OutboxShipper(store: rig.state, logger: AgentRig.logger)
            try await outbox.enqueue(report.resultRequest)
            await harness.stopServing()
            let queued = try await rig.state.outboxCount()
            guard case .deferred = await outbox.flush(agentID: identity.agentID, client: try await session.client()) else {
                Issue.record("a flush with the control plane down must defer")
                throw HarnessError("flush did not defer")
            }
            #expect(try await rig.state.outboxCount() == queued, "nothing is dropped while the control plane is down")
            let reopened = try await EdgeStateStore.open(directory: rig.root + "/state", logger: AgentRig.logger)
            #expect(try await reopened.outboxCount() == queued, "the outbox survives an agent restart")
            try await harness.resumeServing()
            #expect(await OutboxShipper(store: reopened, logger: AgentRig.logger).flush(agentID: identity.agentID, client: try await session.client()) == .drained)
            #expect(try await Self.terminal(fleet, applied, seconds: 5).map(\.state) == [.succeeded])
            let logs = try await fleet.tenantClient.listExecutionLogs(ListExecutionLogsRequest(executionId: applied.executions[0].id, limit: 50))
            #expect(!logs.logs.isEmpty)
        }
    }

    @Test("the run loop renews the certificate before it expires and keeps heartbeating with the new one")
    func renewalInTheLoop() async throws {
        try await AgentRig.with(format: .binary, {
            $0.heartbeatInterval = .seconds(1)
            $0.agentCertificateTTL = .seconds(6)
        }) { harness, fleet, rig in
            let enrolled = try #require(try rig.identityStore.load())
            try rig.start()
            let deadline = Date().addingTimeInterval(20)
            var renewed = enrolled
            while Date() < deadline, renewed.certificatePEM == enrolled.certificatePEM {
                try await Task.sleep(for: .milliseconds(200))
                renewed = try #require(try rig.identityStore.load())
            }
            #expect(renewed.certificatePEM != enrolled.certificatePEM, "renewed at about 2/3 of the 6 s lifetime")
            #expect(renewed.refreshToken != enrolled.refreshToken)
            let renewedAt = Date()
            try await Task.sleep(for: .seconds(2))
            let host = try #require(try await fleet.tenantClient.listHosts(ListHostsRequest(siteId: fleet.site.id)).hosts.first)
            #expect(host.agentState == .online)
            #expect((host.agentLastHeartbeatAt?.date ?? .distantPast) > renewedAt, "heartbeats continue with the renewed certificate")
        }
    }

    @Test("the NetBird status the agent evaluates reaches the hosts list")
    func netBirdStatus() async throws {
        try await AgentRig.with(format: .json, { $0.heartbeatInterval = .seconds(1) }) { harness, fleet, rig in
            let fake = URL(fileURLWithPath: try AgentRig.fakeVMM()).deletingLastPathComponent().appending(path: "fake-netbird").path
            var configuration = NetBirdConfiguration()
            configuration.enabled = true
            configuration.binary = fake
            configuration.temporaryDirectory = rig.root
            configuration.environment = ["PATH": "/usr/bin:/bin", "FAKE_NETBIRD_STATE": "connected"]
            try rig.start(netBird: NetBirdMonitor(configuration: configuration, setupKey: nil, logger: AgentRig.logger))
            let deadline = Date().addingTimeInterval(20)
            var netbird: NetbirdStatus?
            while Date() < deadline, netbird?.state != .connected {
                try await Task.sleep(for: .milliseconds(200))
                netbird = try await fleet.tenantClient.listHosts(ListHostsRequest(siteId: fleet.site.id)).hosts.first?.netbird
            }
            #expect(netbird?.state == .connected)
            #expect(netbird?.connected == true)
        }
    }
}
