import Foundation
public import Logging
public import NKudoContract
public import ServiceLifecycle

/// The agent's `run` loop as a swift-service-lifecycle `Service` (reference §3, with the
/// defects of §11 fixed):
///
/// - At start the provider reconciles every VM with reality; each heartbeat carries the
///   VMs' true states, host facts, NetBird status and the execution updates since the
///   last heartbeat, over mTLS in the configured wire format.
/// - The interval comes from the control plane (bounded, jittered); while the control
///   plane is unreachable the agent backs off exponentially (capped) and fails over to
///   the next configured URL. The certificate is renewed at about 2/3 of its lifetime.
/// - Leased plans run one at a time in a worker beside the heartbeat loop, so a long
///   action never silences heartbeats. A plan re-delivered while queued or running is
///   not queued twice; the executor's durable ledger answers re-runs.
/// - Results and log lines go into the persisted outbox and are delivered in batches
///   until acknowledged.
/// - On graceful shutdown (SIGTERM/SIGINT) the current action finishes, the rest of its
///   plan is left for the control plane to offer again, the outbox is flushed once more
///   and `run` returns.
public actor EdgeAgent: Service {
    private let session: ControlPlaneSession
    private let state: EdgeStateStore
    private let provider: any MicroVMProvider
    private let hostFacts: HostFactsCollector
    private let netBird: NetBirdMonitor?
    private let configuration: EdgeAgentConfiguration
    private let logger: Logger
    private let executor: PlanExecutor
    private let outbox: OutboxShipper
    private var schedule: HeartbeatSchedule
    private var pendingUpdates: [String: HeartbeatRequest.ExecutionUpdate] = [:]
    private var activePlans: Set<String> = []
    private var lastSequence: Int64 = 0
    private let plans: AsyncStream<LeasedPlan>
    private let planQueue: AsyncStream<LeasedPlan>.Continuation

    /// An agent.
    ///
    /// - Parameters:
    ///   - session: Identity and connection to the control plane.
    ///   - state: Ledger and outbox (`edge-state.json`).
    ///   - provider: Runs the microVMs.
    ///   - hostFacts: Collects the heartbeat's host facts.
    ///   - netBird: Evaluates the NetBird mesh; nil when disabled.
    ///   - configuration: Loop settings.
    ///   - logger: Diagnostics.
    public init(session: ControlPlaneSession, state: EdgeStateStore, provider: any MicroVMProvider, hostFacts: HostFactsCollector,
                netBird: NetBirdMonitor?, configuration: EdgeAgentConfiguration, logger: Logger) {
        self.session = session
        self.state = state
        self.provider = provider
        self.hostFacts = hostFacts
        self.netBird = netBird
        self.configuration = configuration
        self.logger = logger
        self.executor = PlanExecutor(provider: provider, ledger: state, logSink: OutboxLogSink(store: state, logger: logger), logger: logger)
        self.outbox = OutboxShipper(store: state, batchSize: configuration.outboxBatchSize, logger: logger)
        self.schedule = HeartbeatSchedule(interval: configuration.heartbeatInterval, maximumBackoff: configuration.maximumBackoff)
        (plans, planQueue) = AsyncStream.makeStream(of: LeasedPlan.self)
    }

    // MARK: Service

    /// Runs until graceful shutdown or cancellation.
    public func run() async {
        let url = await session.currentURL
        logger.info("agent running", metadata: ["control_plane": "\(url)"])
        await withDiscardingTaskGroup { group in
            group.addTask { await self.executeQueuedPlans() }
            await self.heartbeatLoop()
            self.planQueue.finish()
        }
        if case .deferred(let reason) = await flushOutbox() {
            logger.notice("outbox not empty at shutdown; delivered after the next start", metadata: ["reason": "\(reason)"])
        }
        logger.info("agent stopped")
    }

    /// One heartbeat, the plans it leased executed to the end, the outbox flushed: the
    /// work of `run --once` and `verify-heartbeat`.
    ///
    /// - Returns: The heartbeat's response.
    /// - Throws: When the heartbeat fails (the plans' own failures are in their results).
    @discardableResult
    public func runOnce() async throws -> HeartbeatResponse {
        let response = try await heartbeat()
        for plan in response.pendingPlans where activePlans.insert(Self.key(of: plan)).inserted {
            await execute(plan)
        }
        if case .deferred(let reason) = await flushOutbox() {
            throw ControlPlaneTransport.Failure(status: 0, message: "outbox not delivered: \(reason)")
        }
        return response
    }

    // MARK: Heartbeats

    private func heartbeatLoop() async {
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            let delay: Duration
            do {
                let response = try await heartbeat()
                delay = schedule.succeeded(serverSeconds: response.nextHeartbeatSeconds)
                for plan in response.pendingPlans where activePlans.insert(Self.key(of: plan)).inserted {
                    planQueue.yield(plan)
                }
                _ = await flushOutbox()
            } catch {
                delay = schedule.failed()
                logger.warning("heartbeat failed", metadata: [
                    "error": "\(error)", "failures": "\(schedule.failures)", "retry_in": "\(delay)",
                ])
                if let failure = error as? ControlPlaneTransport.Failure, failure.status == 0 {
                    await session.failOver()
                }
            }
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: delay) }
            } catch {
                return
            }
        }
    }

    private func heartbeat() async throws -> HeartbeatResponse {
        await session.renewIfDue()
        let identity = await session.identity
        let facts: HostFacts?
        do {
            facts = try hostFacts.collect()
        } catch {
            logger.warning("host facts unavailable", metadata: ["error": "\(error)"])
            facts = nil
        }
        let netbird = await netBird?.evaluate()
        let vms = await reconciledVMs()
        let updates = pendingUpdates
        lastSequence = max(lastSequence + 1, Int64(Date().timeIntervalSince1970 * 1000))
        // Only what the control plane stores: the facts as totals, not the nested
        // `host_facts` (interfaces, per-disk figures), and no informational fields (VM paths,
        // TAP names, PIDs, the identity's tenant, site and host ids). Absent fields cost
        // nothing in binary; this halved the bytes of a 10-VM heartbeat (README, Performance).
        let request = HeartbeatRequest(
            agentId: identity.agentID, heartbeatSeq: lastSequence, agentVersion: configuration.agentVersion,
            os: facts?.os ?? "", arch: facts?.arch ?? "", kernelVersion: facts?.kernel ?? "", hostname: configuration.hostname,
            cpuCoresTotal: facts?.cpuCores ?? 0, memoryBytesTotal: facts?.memoryTotalBytes ?? 0,
            storageBytesTotal: facts?.storageBytesTotal ?? 0, kvmAvailable: facts?.kvmUsable ?? false,
            cloudHypervisorAvailable: hostFacts.cloudHypervisorAvailable(binary: configuration.cloudHypervisorBinary),
            microvms: vms.map(Self.report), executionUpdates: updates.values.sorted { $0.executionId < $1.executionId },
            sentAt: ProtoTimestamp(date: Date()), netbirdStatus: netbird)
        let response = try await session.client().heartbeat(request)
        for (id, update) in updates where pendingUpdates[id] == update {
            pendingUpdates[id] = nil
        }
        logger.debug("heartbeat accepted", metadata: [
            "plans": "\(response.pendingPlans.count)", "next_seconds": "\(response.nextHeartbeatSeconds)",
        ])
        return response
    }

    /// The provider's true view of every VM, mirrored into the state file.
    private func reconciledVMs() async -> [MicroVMState] {
        let vms: [MicroVMState]
        do {
            vms = try await provider.reconcileAll()
        } catch {
            logger.warning("microVM states unavailable", metadata: ["error": "\(error)"])
            return []
        }
        do {
            try state.replaceMicroVMs(vms.map {
                MicroVMRecord(id: $0.id.rawValue, name: $0.name, kernelPath: $0.kernelPath, rootfsPath: $0.diskPath,
                              tapIface: $0.tapName, chPID: Int($0.pid), status: $0.status.reportedName, updatedAt: $0.updatedAt)
            })
        } catch {
            logger.warning("microVM snapshots not saved", metadata: ["error": "\(error)"])
        }
        return vms
    }

    private static func report(_ vm: MicroVMState) -> HeartbeatRequest.MicroVMReport {
        HeartbeatRequest.MicroVMReport(
            id: vm.id.rawValue, name: vm.name, status: vm.status.reportedName, vcpuCount: Int32(clamping: vm.vcpu),
            memoryMib: Int64(vm.memoryMiB), updatedAt: ProtoTimestamp(date: vm.updatedAt))
    }

    // MARK: Plans

    private func executeQueuedPlans() async {
        for await plan in plans {
            guard !Task.isShuttingDownGracefully, !Task.isCancelled else {
                activePlans.remove(Self.key(of: plan))
                continue
            }
            await execute(plan)
        }
    }

    private func execute(_ plan: LeasedPlan) async {
        let report = await executor.execute(
            plan, shouldContinue: { !Task.isShuttingDownGracefully && !Task.isCancelled },
            actionStarting: { executionID in await self.noteUpdate(executionID: executionID, state: "IN_PROGRESS") })
        if !report.results.isEmpty {
            do {
                try await outbox.enqueue(report.resultRequest)
            } catch {
                logger.error("plan results could not be queued; they ride the heartbeat only", metadata: [
                    "execution_id": "\(report.executionID)", "error": "\(error)",
                ])
            }
        }
        for result in report.results {
            noteUpdate(executionID: result.executionId, state: result.ok ? "SUCCEEDED" : "FAILED",
                       errorCode: result.errorCode ?? "", errorMessage: result.ok ? "" : result.message)
        }
        _ = await flushOutbox()
        activePlans.remove(Self.key(of: plan))
    }

    private func noteUpdate(executionID: String, state: String, errorCode: String = "", errorMessage: String = "") {
        pendingUpdates[executionID] = HeartbeatRequest.ExecutionUpdate(
            executionId: executionID, state: state, errorCode: errorCode, errorMessage: errorMessage,
            updatedAt: ProtoTimestamp(date: Date()))
    }

    private func flushOutbox() async -> OutboxShipper.Outcome {
        let client: AgentServiceClient<ControlPlaneTransport>
        do {
            client = try await session.client()
        } catch {
            return .deferred("\(error)")
        }
        return await outbox.flush(agentID: await session.identity.agentID, client: client)
    }

    private static func key(of plan: LeasedPlan) -> String {
        plan.planId.isEmpty ? plan.executionId : plan.planId
    }
}
