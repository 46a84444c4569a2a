import Foundation
public import Logging
public import NKudoContract

/// Settings of ``PlanExecutor``.
public struct PlanExecutorConfiguration: Sendable, Hashable {
    /// Timeout of a create action whose `timeout` is ≤ 0, in seconds.
    public var defaultCreateTimeout: Double = 300
    /// Timeout of any other action whose `timeout` is ≤ 0, in seconds.
    public var defaultTimeout: Double = 120
    /// How long a STOP without a timeout waits for the guest to power off, in seconds.
    public var defaultStopGracePeriod: Double = 30

    /// The defaults (300 s for creates, 120 s otherwise).
    public init() {}
}

/// The outcome of running one plan.
public struct PlanExecutionReport: Sendable {
    /// Plan id (may be empty for locally applied plans).
    public var planID: String
    /// Plan-level execution id.
    public var executionID: String
    /// Results of the actions that ran (or were answered from the ledger), in order.
    public var results: [ReportExecutionResultRequest.ActionResult]
    /// Ids of the actions not run because an earlier one failed (or the plan was refused).
    public var notRunActionIDs: [String]
    /// Why the plan stopped early, nil when every action succeeded.
    public var failure: String?
    /// Whether the plan stopped early because the agent is shutting down or lost the
    /// plan's lease (the actions not run are offered again by the control plane).
    public var interrupted = false
    /// The fencing token of the plan's lease (0 for local plans).
    public var leaseToken: Int64 = 0

    /// The body of `POST /v1/executions/result` for this report.
    public var resultRequest: ReportExecutionResultRequest {
        ReportExecutionResultRequest(planId: planID.isEmpty ? nil : planID, executionId: executionID, results: results, leaseToken: leaseToken)
    }
}

/// Runs leased plans: actions in order, one at a time, each under its own timeout,
/// through a ``MicroVMProvider``. An idempotency ledger keyed by (plan id, action id)
/// makes re-delivered plans safe: a succeeded action is answered from the ledger, a
/// failed one runs again, and one that was started but never finished (the agent died
/// mid-action) is settled by asking the provider for the VM's real state. After the
/// first failed action the plan stops.
public struct PlanExecutor: Sendable {
    /// Failure codes of action results.
    public enum ErrorCode {
        /// The action ran and failed.
        public static let actionFailed = "ACTION_FAILED"
        /// The action did not finish within its timeout.
        public static let timeout = "TIMEOUT"
        /// The action's type or parameters are not acceptable; nothing was done.
        public static let invalidParams = "INVALID_PARAMS"
    }

    private let provider: any MicroVMProvider
    private let ledger: any ActionLedger
    private let logSink: (any LogSink)?
    private let configuration: PlanExecutorConfiguration
    private let logger: Logger

    /// An executor over `provider`, recording in `ledger`, logging lines to `logger` and,
    /// when given, to `logSink` (the lines shipped to the control plane).
    public init(provider: any MicroVMProvider, ledger: any ActionLedger, logSink: (any LogSink)?,
                configuration: PlanExecutorConfiguration = PlanExecutorConfiguration(), logger: Logger) {
        self.provider = provider
        self.ledger = ledger
        self.logSink = logSink
        self.configuration = configuration
        self.logger = logger
    }

    /// Runs `plan` and returns what happened. Log lines and the report carry the plan's
    /// fencing token.
    ///
    /// - Parameters:
    ///   - shouldContinue: Asked before each action; `false` stops the plan there
    ///     (``PlanExecutionReport/interrupted``), e.g. on shutdown or when the lease is lost.
    ///   - actionStarting: Told the execution id of each action about to run.
    public func execute(_ plan: LeasedPlan, shouldContinue: @Sendable () async -> Bool = { true },
                        actionStarting: @Sendable (String) async -> Void = { _ in }) async -> PlanExecutionReport {
        let executionID = plan.executionId.trimmingCharacters(in: .whitespacesAndNewlines)
        let planID = plan.planId.trimmingCharacters(in: .whitespacesAndNewlines)
        var report = PlanExecutionReport(planID: planID, executionID: executionID, results: [], notRunActionIDs: [], failure: nil)
        report.leaseToken = plan.leaseToken
        guard !executionID.isEmpty else {
            report.failure = "execution_id required"
            report.notRunActionIDs = plan.actions.map(\.actionId)
            logger.error("plan refused: execution_id required", metadata: [EdgeLogKey.planID: "\(planID)"])
            return report
        }
        let context = PlanContext(planID: planID.isEmpty ? executionID : planID, executionID: executionID, leaseToken: plan.leaseToken)
        await log(context, executionID, nil, .info, "plan execution started")
        for (index, action) in plan.actions.enumerated() {
            guard await shouldContinue() else {
                report.interrupted = true
                report.notRunActionIDs = plan.actions[index...].map(\.actionId)
                await log(context, executionID, nil, .warn, "plan interrupted; \(report.notRunActionIDs.count) action(s) not run")
                return report
            }
            await actionStarting(action.executionId.isEmpty ? executionID : action.executionId)
            let result = await run(action, in: context)
            report.results.append(result)
            if !result.ok {
                report.failure = "action \(action.actionId) failed: \(result.message)"
                report.notRunActionIDs = plan.actions[(index + 1)...].map(\.actionId)
                await log(context, executionID, nil, .error, report.failure ?? "")
                return report
            }
        }
        await log(context, executionID, nil, .info, "plan execution finished")
        return report
    }

    /// What every action of a plan shares: the ledger's plan key, the plan-level execution
    /// id and the lease's fencing token.
    private struct PlanContext {
        let planID: String
        let executionID: String
        let leaseToken: Int64
    }

    // MARK: One action

    private func run(_ action: LeasedPlan.Action, in context: PlanContext) async -> ReportExecutionResultRequest.ActionResult {
        let planID = context.planID
        let actionID = action.actionId
        let executionID = action.executionId.isEmpty ? context.executionID : action.executionId
        let startedAt = Date()
        let ledgered = !actionID.isEmpty
        if ledgered {
            do {
                if let previous = try await ledger.ledgerEntry(planID: planID, actionID: actionID) {
                    switch previous.state {
                    case .succeeded:
                        await log(context, executionID, actionID, .info, "action reused from idempotency cache")
                        return Self.result(executionID: executionID, actionID: actionID, ok: true, errorCode: nil,
                                           message: previous.message, startedAt: previous.startedAt,
                                           finishedAt: previous.finishedAt ?? startedAt)
                    case .started:
                        if await isAlreadyDone(action) {
                            await log(context, executionID, actionID, .info, "interrupted action found complete on the host")
                            return await finish(context, actionID: actionID, executionID: executionID, startedAt: previous.startedAt,
                                                error: nil, recorded: true)
                        }
                        await log(context, executionID, actionID, .warn, "interrupted action is run again")
                    case .failed:
                        await log(context, executionID, actionID, .info, "previously failed action is retried")
                    }
                }
                try await ledger.recordLedgerStarted(planID: planID, actionID: actionID, executionID: executionID, startedAt: startedAt)
            } catch {
                await log(context, executionID, actionID, .warn, "idempotency ledger unavailable: \(error)")
            }
        }
        await log(context, executionID, actionID, .info, "\(action.type) of vm \(action.params?.vmId ?? "") started")
        let (error, detail) = await perform(action)
        return await finish(context, actionID: actionID, executionID: executionID, startedAt: startedAt,
                            error: error, detail: detail, recorded: ledgered)
    }

    private func finish(_ context: PlanContext, actionID: String, executionID: String, startedAt: Date,
                        error: ActionFailure?, detail: String? = nil, recorded: Bool) async -> ReportExecutionResultRequest.ActionResult {
        let planID = context.planID
        let finishedAt = Date()
        let message = error?.message ?? detail ?? "ok"
        if let error {
            await log(context, executionID, actionID, .error, "action failed: \(error.message)")
        } else {
            await log(context, executionID, actionID, .info, detail.map { "action completed: \($0)" } ?? "action completed")
        }
        if recorded {
            do {
                try await ledger.recordLedgerOutcome(planID: planID, actionID: actionID, executionID: executionID, succeeded: error == nil,
                                                     errorCode: error?.code, message: message, finishedAt: finishedAt)
            } catch {
                await log(context, executionID, actionID, .warn, "failed to store action result: \(error)")
            }
        }
        return Self.result(executionID: executionID, actionID: actionID, ok: error == nil, errorCode: error?.code,
                           message: message, startedAt: startedAt, finishedAt: finishedAt)
    }

    /// Whether the effect of an interrupted `action` already holds on the host.
    private func isAlreadyDone(_ action: LeasedPlan.Action) async -> Bool {
        guard let id = try? VMID(action.params?.vmId ?? "") else {
            return false
        }
        let state: MicroVMState?
        do {
            state = try await provider.state(of: id)
        } catch {
            return false
        }
        switch action.type {
        case .microVMCreate:
            return state != nil
        case .microVMStart:
            return state?.status == .running
        case .microVMStop:
            return state.map { $0.status != .running } ?? false
        case .microVMDelete:
            return state == nil
        default:
            return false
        }
    }

    /// Runs `action` under its timeout: its failure, or what it has to say on success
    /// (how a STOP stopped the VM).
    private func perform(_ action: LeasedPlan.Action) async -> (failure: ActionFailure?, detail: String?) {
        let operation: @Sendable () async throws(ProviderError) -> String?
        do {
            operation = try self.operation(for: action)
        } catch {
            return (error, nil)
        }
        let timeout = action.timeout > 0 ? Double(action.timeout)
            : action.type == .microVMCreate ? configuration.defaultCreateTimeout : configuration.defaultTimeout
        do {
            // The operation's detail when it finished first; nil when the timeout did.
            let finished: String?? = try await withThrowingTaskGroup(of: String??.self) { group in
                group.addTask {
                    .some(try await operation())
                }
                group.addTask {
                    try await Task.sleep(for: .seconds(timeout))
                    return nil
                }
                let first = try await group.next() ?? nil
                group.cancelAll()
                return first
            }
            guard let detail = finished else {
                throw ActionFailure(code: ErrorCode.timeout, message: "action timed out after \(Self.seconds(timeout)) s")
            }
            return (nil, detail)
        } catch let failure as ActionFailure {
            return (failure, nil)
        } catch let error as ProviderError {
            return (ActionFailure(code: error.code == .invalidArgument ? ErrorCode.invalidParams : ErrorCode.actionFailed,
                                  message: error.message), nil)
        } catch {
            return (ActionFailure(code: ErrorCode.actionFailed, message: "\(error)"), nil)
        }
    }

    /// Decodes and validates `action` into a provider call (reference §5.2, §6.2).
    private func operation(for action: LeasedPlan.Action) throws(ActionFailure) -> @Sendable () async throws(ProviderError) -> String? {
        guard let params = action.params else {
            throw ActionFailure(code: ErrorCode.invalidParams, message: "params required")
        }
        let id: VMID
        do {
            id = try VMID(params.vmId.trimmingCharacters(in: .whitespacesAndNewlines))
        } catch {
            throw ActionFailure(code: ErrorCode.invalidParams, message: error.message)
        }
        let provider = self.provider
        switch action.type {
        case .microVMCreate:
            let spec = try Self.spec(id: id, params)
            return { () async throws(ProviderError) in
                _ = try await provider.create(spec)
                return nil
            }
        case .microVMStart:
            return { () async throws(ProviderError) in
                _ = try await provider.start(id)
                return nil
            }
        case .microVMStop:
            // The graceful part of a stop may take most of the action's time; the forced
            // part needs a few seconds of its own.
            let gracePeriod = action.timeout > 0 ? max(Double(action.timeout) * 0.6, 1) : configuration.defaultStopGracePeriod
            return { () async throws(ProviderError) in
                let state = try await provider.stop(id, gracePeriod: gracePeriod)
                return state.stateReason.isEmpty ? nil : state.stateReason
            }
        case .microVMDelete:
            return { () async throws(ProviderError) in
                try await provider.delete(id)
                return nil
            }
        default:
            throw ActionFailure(code: ErrorCode.invalidParams, message: "unknown action type: \(action.type)")
        }
    }

    /// The provider's spec of a create. The plan names images (``ImageReference``), never
    /// paths, and never the TAP device: anything else fails the action before the provider
    /// is asked.
    private static func spec(id: VMID, _ params: LeasedPlan.Action.Params) throws(ActionFailure) -> MicroVMSpec {
        func nonBlank(_ value: String?) -> String? {
            guard let trimmed = value?.trimmingCharacters(in: .whitespacesAndNewlines), !trimmed.isEmpty else {
                return nil
            }
            return trimmed
        }
        if let tap = nonBlank(params.tapIface) {
            throw ActionFailure(code: ErrorCode.invalidParams,
                                message: "tap_iface \"\(tap.prefix(40))\" is refused: the agent names the VM's TAP device itself (\(TAPName.derived(from: id)))")
        }
        let image: ImageReference?
        let kernel: ImageReference?
        let initrd: ImageReference?
        do {
            image = try nonBlank(params.rootfsPath).map { text throws(ProviderError) in try ImageReference(text, field: "rootfs_path") }
            kernel = try nonBlank(params.kernelPath).map { text throws(ProviderError) in try ImageReference(text, field: "kernel_path") }
            initrd = try nonBlank(params.initrdPath).map { text throws(ProviderError) in try ImageReference(text, field: "initrd_path") }
        } catch {
            throw ActionFailure(code: ErrorCode.invalidParams, message: error.message)
        }
        if let userData = params.userData, userData.utf8.count > MicroVMSpec.maximumUserDataBytes {
            throw ActionFailure(code: ErrorCode.invalidParams,
                                message: "user_data is \(userData.utf8.count) bytes; at most \(MicroVMSpec.maximumUserDataBytes)")
        }
        if let key = params.sshAuthorizedKeys.first(where: { $0.contains(where: \.isNewline) }) {
            throw ActionFailure(code: ErrorCode.invalidParams, message: "ssh_authorized_keys: \"\(key.prefix(40))…\" is more than one line")
        }
        let vcpu = Int(params.vcpu ?? 0)
        let memory = Int(params.memoryMib ?? 0)
        guard vcpu <= Int(MicroVMLimits.maximumVCPUs), memory <= Int(MicroVMLimits.maximumMemoryMiB) else {
            throw ActionFailure(code: ErrorCode.invalidParams,
                                message: "at most \(MicroVMLimits.maximumVCPUs) vcpu and \(MicroVMLimits.maximumMemoryMiB) memory_mib, not \(vcpu) and \(memory)")
        }
        return MicroVMSpec(id: id, name: nonBlank(params.name) ?? id.rawValue, vcpu: vcpu > 0 ? vcpu : 1,
                           memoryMiB: memory > 0 ? memory : 256, kernel: kernel, kernelArguments: params.extraArgs.compactMap(nonBlank),
                           image: image, initrd: initrd, sshAuthorizedKeys: params.sshAuthorizedKeys.compactMap(nonBlank),
                           userData: params.userData)
    }

    // MARK: Helpers

    private func log(_ context: PlanContext, _ executionID: String, _ actionID: String?, _ severity: LogSeverity, _ message: String) async {
        var metadata: Logger.Metadata = [EdgeLogKey.executionID: "\(executionID)"]
        if let actionID {
            metadata[EdgeLogKey.actionID] = "\(actionID)"
        }
        switch severity {
        case .debug: logger.debug("\(message)", metadata: metadata)
        case .info: logger.info("\(message)", metadata: metadata)
        case .warn: logger.warning("\(message)", metadata: metadata)
        case .error: logger.error("\(message)", metadata: metadata)
        }
        await logSink?.emit(ExecutionLogEntry(executionID: executionID, actionID: actionID, severity: severity, message: message,
                                              leaseToken: context.leaseToken))
    }

    private static func result(executionID: String, actionID: String, ok: Bool, errorCode: String?, message: String,
                               startedAt: Date, finishedAt: Date) -> ReportExecutionResultRequest.ActionResult {
        ReportExecutionResultRequest.ActionResult(
            executionId: executionID, actionId: actionID, ok: ok, errorCode: errorCode, message: message,
            startedAt: ProtoTimestamp(date: startedAt), finishedAt: ProtoTimestamp(date: finishedAt))
    }

    private static func seconds(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(value)
    }
}

/// A failed action: its result code and message.
struct ActionFailure: Error {
    var code: String
    var message: String
}
