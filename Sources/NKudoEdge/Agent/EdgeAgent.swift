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
/// - Beside the heartbeats the agent keeps a long poll for plans open (`NextPlans` with a
///   wait, ``EdgeAgentConfiguration/planWait``), so an applied plan reaches it at once;
///   heartbeats stay the liveness signal and deliver plans too (the fallback).
/// - Leased plans run one at a time in a worker beside the heartbeat loop, so a long
///   action never silences heartbeats. A plan re-delivered while queued or running is
///   not queued twice; the executor's durable ledger answers re-runs.
/// - Every heartbeat lists the plans the agent holds (queued or running) with their
///   fencing tokens, which extends their leases; execution updates, results and log lines
///   carry the token too. When the control plane refuses a claim (the lease was taken
///   over, the plan is finished), the plan's action is cancelled and nothing of it is
///   reported.
/// - Heartbeats are numbered by ``HeartbeatSequence``, persisted in the state store.
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
    /// The plans queued or running, by ``key(of:)``.
    private var heldPlans: [String: HeldPlan] = [:]
    private var sequence: HeartbeatSequence?
    /// The catalog the control plane last accepted; it is sent again only when it changes.
    private var reportedCatalog: ProviderCatalog?
    /// The console tail of each VM the control plane last accepted, by VM id.
    private var shippedConsoles: [String: String] = [:]
    /// The most console bytes one heartbeat carries.
    static let consoleBudgetBytes = 256 * 1024
    private let plans: AsyncStream<LeasedPlan>
    private let planQueue: AsyncStream<LeasedPlan>.Continuation

    /// A plan the agent holds: queued, or running in `task`.
    private struct HeldPlan {
        var leaseToken: Int64
        var task: Task<PlanExecutionReport, Never>?
        /// The control plane refused the lease: stop, report nothing.
        var revoked = false
    }

    /// An agent.
    ///
    /// - Parameters:
    ///   - session: Identity and connection to the control plane.
    ///   - state: Ledger, outbox and VM snapshots (`state.sqlite`).
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
        logger.info("agent running", metadata: [EdgeLogKey.controlPlane: "\(url)"])
        await withDiscardingTaskGroup { group in
            group.addTask { await self.executeQueuedPlans() }
            group.addTask { await self.planPollLoop() }
            await self.heartbeatLoop()
            self.planQueue.finish()
        }
        if case .deferred(let reason) = await flushOutbox() {
            logger.notice("outbox not empty at shutdown; delivered after the next start", metadata: [EdgeLogKey.reason: "\(reason)"])
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
        for plan in response.pendingPlans where hold(plan) {
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
                for plan in response.pendingPlans where hold(plan) {
                    planQueue.yield(plan)
                }
                _ = await flushOutbox()
            } catch {
                delay = schedule.failed()
                logger.warning("heartbeat failed", metadata: [
                    EdgeLogKey.error: "\(error)", EdgeLogKey.failures: "\(schedule.failures)", EdgeLogKey.retryIn: "\(delay)",
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

    // MARK: Long poll

    /// Keeps a long poll for plans open until shutdown. A failed poll is tried again after
    /// a growing pause (the heartbeat loop fails over between control planes); a control
    /// plane that answers at once with nothing does not hold long polls (an older release,
    /// or it is shutting down), and the next poll waits a heartbeat interval.
    private func planPollLoop() async {
        let wait = configuration.planWait
        guard wait > .zero else { return }
        let milliseconds = wait.components.seconds * 1000 + wait.components.attoseconds / 1_000_000_000_000_000
        let request = NextPlansRequest(wait: "\(milliseconds)ms")
        var failures = 0
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            let started = ContinuousClock.now
            let pause: Duration
            do {
                let client = try await session.longPollClient(timeout: wait + .seconds(15))
                let response = try await cancelWhenGracefulShutdown { try await client.nextPlans(request) }
                failures = 0
                for plan in response.plans where hold(plan) {
                    planQueue.yield(plan)
                }
                let answeredAtOnce = response.plans.isEmpty && started.duration(to: .now) < wait / 2
                pause = answeredAtOnce ? configuration.heartbeatInterval : .zero
            } catch {
                guard !Task.isCancelled, !Task.isShuttingDownGracefully else { return }
                failures += 1
                pause = min(.seconds(1 << min(failures, 6)), configuration.maximumBackoff)
                logger.debug("long poll for plans failed", metadata: [EdgeLogKey.error: "\(error)", EdgeLogKey.retryIn: "\(pause)"])
            }
            guard pause > .zero else { continue }
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: pause) }
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
            logger.warning("host facts unavailable", metadata: [EdgeLogKey.error: "\(error)"])
            facts = nil
        }
        let netbird = await netBird?.evaluate()
        let vms = await reconciledVMs()
        let updates = pendingUpdates
        let sequenceNumber = await nextSequence()
        let dropped = (try? await state.droppedLogLines()) ?? 0
        let held = heldPlans.filter { !$0.value.revoked }.map { HeldLease(planId: $0.key, leaseToken: $0.value.leaseToken) }
            .sorted { $0.planId < $1.planId }
        let catalog = provider.catalog()
        let catalogDue = catalog != reportedCatalog
        var consoles: [String: String] = [:]
        for vm in vms where !vm.consolePath.isEmpty {
            consoles[vm.id.rawValue] = SerialConsole(path: vm.consolePath).tail()
        }
        // Changed consoles ship within a budget per heartbeat (the control plane's body limit
        // is 1 MiB by default); the rest ship with the next ones, starting elsewhere each time.
        var shipping = shippedConsoles
        var budget = Self.consoleBudgetBytes
        let start = vms.isEmpty ? 0 : Int(sequenceNumber.magnitude % UInt64(vms.count))
        var reports = vms.map(Self.report)
        for offset in vms.indices {
            let index = (start + offset) % vms.count
            let id = vms[index].id.rawValue
            guard let console = consoles[id], console != shipping[id], console.utf8.count <= budget else { continue }
            reports[index].consoleTail = console
            shipping[id] = console
            budget -= console.utf8.count
        }
        // Only what the control plane stores: the facts as totals, not the nested
        // `host_facts` (interfaces, per-disk figures), and no informational fields (VM paths,
        // TAP names, PIDs, the identity's tenant, site and host ids). Absent fields cost
        // nothing in binary; this halved the bytes of a 10-VM heartbeat (README, Performance).
        let request = HeartbeatRequest(
            agentId: identity.agentID, heartbeatSeq: sequenceNumber, agentVersion: configuration.agentVersion,
            os: facts?.os ?? "", arch: facts?.arch ?? "", kernelVersion: facts?.kernel ?? "", hostname: configuration.hostname,
            cpuCoresTotal: facts?.cpuCores ?? 0, memoryBytesTotal: facts?.memoryTotalBytes ?? 0,
            storageBytesTotal: facts?.storageBytesTotal ?? 0, kvmAvailable: facts?.kvmUsable ?? false,
            cloudHypervisorAvailable: hostFacts.cloudHypervisorAvailable(binary: configuration.cloudHypervisorBinary),
            microvms: reports, executionUpdates: updates.values.sorted { $0.executionId < $1.executionId },
            hostFacts: catalogDue ? catalog.hypervisorFacts : nil,
            sentAt: ProtoTimestamp(date: Date()), netbirdStatus: netbird, heldLeases: held, droppedLogLines: dropped,
            imageCatalog: catalogDue ? catalog.imageCatalog : nil)
        let response = try await session.client().heartbeat(request)
        reportedCatalog = catalog
        shippedConsoles = shipping.filter { consoles[$0.key] != nil }
        if dropped > 0 {
            do {
                try await state.reportedDroppedLogLines(dropped)
            } catch {
                logger.warning("dropped log lines reported but not recorded; they are reported again", metadata: [EdgeLogKey.error: "\(error)"])
            }
        }
        for (id, update) in updates where pendingUpdates[id] == update {
            pendingUpdates[id] = nil
        }
        if response.heartbeatSeq > sequenceNumber {
            logger.notice("the control plane has a higher heartbeat sequence number; continuing above it", metadata: [
                EdgeLogKey.sent: "\(sequenceNumber)", EdgeLogKey.stored: "\(response.heartbeatSeq)",
            ])
            if let reserve = sequence?.continueAbove(response.heartbeatSeq) {
                await reserveSequences(upTo: reserve)
            }
        }
        for rejection in response.leaseRejections {
            revoke(rejection)
        }
        logger.debug("heartbeat accepted", metadata: [
            EdgeLogKey.plans: "\(response.pendingPlans.count)", EdgeLogKey.nextSeconds: "\(response.nextHeartbeatSeconds)",
        ])
        return response
    }

    /// The provider's true view of every VM, mirrored into the state file.
    private func reconciledVMs() async -> [MicroVMState] {
        let vms: [MicroVMState]
        do {
            vms = try await provider.reconcileAll()
        } catch {
            logger.warning("microVM states unavailable", metadata: [EdgeLogKey.error: "\(error)"])
            return []
        }
        do {
            try await state.replaceMicroVMs(vms.map {
                MicroVMRecord(id: $0.id.rawValue, name: $0.name, kernelPath: $0.kernelPath, rootfsPath: $0.diskPath,
                              tapIface: $0.tapName, chPID: Int($0.pid), status: $0.status.reportedName, updatedAt: $0.updatedAt)
            })
        } catch {
            logger.warning("microVM snapshots not saved", metadata: [EdgeLogKey.error: "\(error)"])
        }
        return vms
    }

    /// The next heartbeat sequence number, its block reserved in the state store first.
    private func nextSequence() async -> Int64 {
        if sequence == nil {
            let stored: Int64?
            do {
                stored = try await state.heartbeatSequenceCeiling()
            } catch {
                logger.warning("heartbeat sequence not readable; starting from the clock", metadata: [EdgeLogKey.error: "\(error)"])
                stored = nil
            }
            sequence = HeartbeatSequence(storedCeiling: stored, now: Date())
        }
        guard let next = sequence?.next() else { return 0 }
        let (value, reserve) = next
        if let reserve {
            await reserveSequences(upTo: reserve)
        }
        return value
    }

    private func reserveSequences(upTo ceiling: Int64) async {
        do {
            try await state.reserveHeartbeatSequence(upTo: ceiling)
        } catch {
            logger.warning("heartbeat sequence block not saved; a restart may repeat numbers until the control plane says so",
                           metadata: [EdgeLogKey.error: "\(error)"])
        }
    }

    private static func report(_ vm: MicroVMState) -> HeartbeatRequest.MicroVMReport {
        HeartbeatRequest.MicroVMReport(
            id: vm.id.rawValue, name: vm.name, status: vm.status.reportedName, vcpuCount: Int32(clamping: vm.vcpu),
            memoryMib: Int64(vm.memoryMiB), updatedAt: ProtoTimestamp(date: vm.updatedAt), stateReason: vm.stateReason,
            hypervisor: vm.hypervisor)
    }

    // MARK: Plans

    /// Takes `plan` into the held plans; false when it is held already (a re-delivery:
    /// its token is updated).
    private func hold(_ plan: LeasedPlan) -> Bool {
        let key = Self.key(of: plan)
        if heldPlans[key] != nil {
            heldPlans[key]?.leaseToken = plan.leaseToken
            return false
        }
        heldPlans[key] = HeldPlan(leaseToken: plan.leaseToken)
        return true
    }

    /// The control plane refused a lease claim: the plan's action is cancelled (or the
    /// queued plan skipped) and nothing of it is reported.
    private func revoke(_ rejection: LeaseRejection) {
        guard var held = heldPlans[rejection.planId], !held.revoked else { return }
        logger.warning("lease lost: stopping the plan and reporting nothing of it", metadata: [
            EdgeLogKey.planID: "\(rejection.planId)", EdgeLogKey.reason: "\(rejection.reason)", EdgeLogKey.detail: "\(rejection.message)",
        ])
        held.revoked = true
        held.task?.cancel()
        heldPlans[rejection.planId] = held
    }

    private func executeQueuedPlans() async {
        for await plan in plans {
            guard !Task.isShuttingDownGracefully, !Task.isCancelled else {
                heldPlans[Self.key(of: plan)] = nil
                continue
            }
            await execute(plan)
        }
    }

    private func execute(_ plan: LeasedPlan) async {
        let key = Self.key(of: plan)
        defer { heldPlans[key] = nil }
        guard heldPlans[key]?.revoked != true else { return }
        let executor = self.executor
        let token = plan.leaseToken
        let task = Task {
            await executor.execute(
                plan, shouldContinue: { !Task.isShuttingDownGracefully && !Task.isCancelled },
                actionStarting: { executionID in await self.noteUpdate(executionID: executionID, state: "IN_PROGRESS", leaseToken: token) })
        }
        heldPlans[key]?.task = task
        let report = await task.value
        guard heldPlans[key]?.revoked != true else {
            for id in pendingUpdates.keys where plan.actions.contains(where: { $0.executionId == id }) {
                pendingUpdates[id] = nil
            }
            logger.warning("plan stopped after its lease was lost; nothing reported", metadata: [
                EdgeLogKey.planID: "\(plan.planId)", EdgeLogKey.actionsRun: "\(report.results.count)",
            ])
            return
        }
        if !report.results.isEmpty {
            do {
                try await outbox.enqueue(report.resultRequest)
            } catch {
                logger.error("plan results could not be queued; they ride the heartbeat only", metadata: [
                    EdgeLogKey.executionID: "\(report.executionID)", EdgeLogKey.error: "\(error)",
                ])
            }
        }
        for result in report.results {
            noteUpdate(executionID: result.executionId, state: result.ok ? "SUCCEEDED" : "FAILED", leaseToken: token,
                       errorCode: result.errorCode ?? "", errorMessage: result.ok ? "" : result.message)
        }
        _ = await flushOutbox()
    }

    private func noteUpdate(executionID: String, state: String, leaseToken: Int64, errorCode: String = "", errorMessage: String = "") {
        pendingUpdates[executionID] = HeartbeatRequest.ExecutionUpdate(
            executionId: executionID, state: state, errorCode: errorCode, errorMessage: errorMessage,
            updatedAt: ProtoTimestamp(date: Date()), leaseToken: leaseToken)
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
