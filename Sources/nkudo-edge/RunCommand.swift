import ArgumentParser
import Foundation
import Logging
import NKudoContract
import NKudoEdge
import NKudoEdgeGRPC
import ServiceLifecycle
import UnixSignals

/// The options of `run` and `verify-heartbeat`.
struct AgentOptions: ParsableArguments {
    @Option(name: .customLong("control-plane"),
            help: "Control plane base URL; repeat it to fail over between replicas (default: the URL enrolled with).")
    var controlPlanes: [String] = []

    @Option(name: .customLong("heartbeat-interval"),
            help: "Heartbeat interval until the control plane sends its own (Go duration; bounded to 1s…1h).")
    var heartbeatInterval = DurationArgument(.seconds(15), text: "15s")

    @Option(name: .customLong("plan-wait"),
            help: "How long one long poll for plans lasts, kept open so that a plan arrives at once (Go duration, at most 60s; 0: plans come with heartbeats only).")
    var planWait = DurationArgument(.seconds(30), text: "30s")

    @Option(help: "Protocol of the agent API: rest (HTTP bindings), connect or grpc (HTTP/2, binary protobuf).")
    var transport: TransportChoice = .rest

    @Flag(name: .customLong("insecure-skip-verify"), help: "Do not verify the control plane's certificate. DEVELOPMENT ONLY.")
    var insecureSkipVerify = false

    @Option(name: .customLong("outbox-max-lines"), help: "Log lines the outbox keeps while the control plane is unreachable; the oldest are dropped (and counted) beyond.")
    var outboxMaxLines = OutboxLimits().maxLogLines

    @Option(name: .customLong("outbox-max-bytes"), help: "Bytes of log lines the outbox keeps; the oldest lines are dropped (and counted) beyond.")
    var outboxMaxBytes = OutboxLimits().maxLogBytes

    @OptionGroup(title: "Cloud Hypervisor") var provider: ProviderOptions
    @OptionGroup(title: "NetBird") var netBird: NetBirdOptions
    @OptionGroup var common: CommonOptions

    func validate() throws {
        for url in controlPlanes { try NKudoEdgeCommand.checkControlPlaneURL(url) }
        guard planWait.duration >= .zero, planWait.duration <= .seconds(60) else {
            throw ValidationError("--plan-wait must be between 0s and 60s")
        }
        guard outboxMaxLines >= 1 else { throw ValidationError("--outbox-max-lines must be at least 1") }
        guard outboxMaxBytes >= 1024 else { throw ValidationError("--outbox-max-bytes must be at least 1024") }
    }

    /// Builds the agent from the enrolled identity, the state directory and the flags.
    func makeAgent(logger: Logger) async throws -> EdgeAgent {
        let identityStore = IdentityStore(directory: common.pkiDirectory)
        let identity: AgentIdentity
        do {
            guard let loaded = try identityStore.load() else {
                throw CommandFailure("not enrolled: no agent identity in \(common.pkiDirectory); run `nkudo-edge enroll` first")
            }
            identity = loaded
        } catch let failure as CommandFailure {
            throw failure
        } catch {
            throw CommandFailure("load identity: \(error)")
        }
        if insecureSkipVerify {
            logger.warning("server certificate verification is DISABLED (--insecure-skip-verify): use it for development only")
        }
        let state: EdgeStateStore
        do {
            state = try await EdgeStateStore.open(directory: common.stateDirectory,
                                                  limits: OutboxLimits(maxLogLines: outboxMaxLines, maxLogBytes: outboxMaxBytes), logger: logger)
        } catch {
            throw CommandFailure("\(error)")
        }
        let session = ControlPlaneSession(identity: identity, identityStore: identityStore, urls: controlPlanes,
                                          format: common.wire.format, transportProtocol: transport.protocol, grpc: EdgeGRPC.transportFactory,
                                          insecureSkipVerify: insecureSkipVerify, logger: logger)
        var configuration = EdgeAgentConfiguration(agentVersion: NKudoVersion.current, hostname: ProcessInfo.processInfo.hostName)
        configuration.heartbeatInterval = heartbeatInterval.duration
        configuration.planWait = planWait.duration
        configuration.cloudHypervisorBinary = provider.cloudHypervisorBinary
        let vms = try provider.provider(protectedDirectories: [common.pkiDirectory, common.stateDirectory], logger: logger)
        return EdgeAgent(session: session, state: state, provider: vms, hostFacts: HostFactsCollector(),
                         netBird: try netBird.monitor(logger: logger), configuration: configuration, logger: logger)
    }

    /// One heartbeat and its plans; a one-line reason on stderr and exit 1 when it fails.
    func runOnce(_ agent: EdgeAgent) async throws {
        do {
            let response = try await agent.runOnce()
            try? FileHandle.standardError.write(contentsOf: Data("heartbeat ok: \(response.pendingPlans.count) plan(s), next in \(response.nextHeartbeatSeconds)s\n".utf8))
        } catch {
            throw CommandFailure("heartbeat failed: \(error)")
        }
    }
}

extension NKudoEdgeCommand {
    /// `run`: the agent's heartbeat loop.
    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send heartbeats and execute the plans the control plane leases, until SIGTERM or SIGINT.",
            discussion: """
                Needs an identity from `enroll`. Heartbeats go over mTLS in --wire format at the interval the control \
                plane sets (jittered, with exponential backoff while it is unreachable); results and log lines wait \
                in a persisted outbox until delivered. On SIGTERM/SIGINT the current action finishes, the outbox is \
                flushed and the agent exits 0; running VMs keep running.
                """)

        @Flag(help: "Send one heartbeat, execute the plans it leases, deliver results; exit 1 if the heartbeat fails.")
        var once = false

        @OptionGroup var options: AgentOptions

        func run() async throws {
            let logger = options.common.logger()
            try await Self.reportingFailure {
                let agent = try await options.makeAgent(logger: logger)
                if once {
                    try await options.runOnce(agent)
                    return
                }
                let group = ServiceGroup(configuration: ServiceGroupConfiguration(
                    services: [.init(service: agent)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
                try await group.run()
            }
        }
    }

    /// `verify-heartbeat`: one heartbeat, failing when it fails.
    struct VerifyHeartbeat: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify-heartbeat",
            abstract: "Send a single heartbeat (executing any plans it leases); exit 1 with the reason if it fails.")

        @OptionGroup var options: AgentOptions

        func run() async throws {
            let logger = options.common.logger()
            try await Run.reportingFailure {
                try await options.runOnce(try await options.makeAgent(logger: logger))
            }
        }
    }
}

extension AsyncParsableCommand {
    /// Runs `body`; a ``CommandFailure`` becomes `error: <reason>` on stderr and exit 1.
    static func reportingFailure(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let failure as CommandFailure {
            try? FileHandle.standardError.write(contentsOf: Data("error: \(failure.description)\n".utf8))
            throw ExitCode.failure
        }
    }
}
