public import Foundation

/// What the agent knows about one action of one plan: recorded when it starts and
/// again when it ends, so a crash between the two is visible after a restart.
public struct ActionOutcome: Sendable, Hashable, Codable {
    /// Progress of the action.
    public enum State: String, Sendable, Hashable, Codable {
        /// Started; no outcome recorded (yet, or the agent died mid-action).
        case started
        /// Finished successfully; never run again.
        case succeeded
        /// Finished with a failure; run again when offered again.
        case failed
    }

    /// Plan id (the plan-level execution id when the plan has none).
    public var planID: String
    /// Action id.
    public var actionID: String
    /// The action's execution id in the run that recorded this.
    public var executionID: String
    /// Whether the action succeeded.
    public var ok: Bool
    /// `ACTION_FAILED`, `TIMEOUT` or `INVALID_PARAMS` on failure, nil otherwise.
    public var errorCode: String?
    /// `ok` or the failure message.
    public var message: String
    /// When the action started.
    public var startedAt: Date
    /// When it finished; nil while ``state`` is ``State/started``.
    public var finishedAt: Date?
    /// Progress.
    public var state: State

    /// An outcome record.
    public init(planID: String, actionID: String, executionID: String, ok: Bool, errorCode: String?, message: String,
                startedAt: Date, finishedAt: Date?, state: State) {
        self.planID = planID
        self.actionID = actionID
        self.executionID = executionID
        self.ok = ok
        self.errorCode = errorCode
        self.message = message
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.state = state
    }
}

/// The executor's idempotency ledger, keyed by (plan id, action id). The production
/// implementation is durable (it must survive agent restarts); ``InMemoryActionLedger``
/// serves tests.
public protocol ActionLedger: Sendable {
    /// The latest record of the action, nil if it was never started.
    func outcome(planID: String, actionID: String) async throws -> ActionOutcome?
    /// Records that the action is starting (state ``ActionOutcome/State/started``),
    /// replacing any earlier record.
    func recordStarted(planID: String, actionID: String, executionID: String) async throws
    /// Records the action's outcome, replacing the started record.
    func recordOutcome(_ outcome: ActionOutcome) async throws
}

/// An ``ActionLedger`` in memory, for tests and for running without a state directory.
public actor InMemoryActionLedger: ActionLedger {
    private struct Key: Hashable {
        var planID: String
        var actionID: String
    }

    private var records: [Key: ActionOutcome] = [:]

    /// An empty ledger.
    public init() {}

    public func outcome(planID: String, actionID: String) -> ActionOutcome? {
        records[Key(planID: planID, actionID: actionID)]
    }

    public func recordStarted(planID: String, actionID: String, executionID: String) {
        records[Key(planID: planID, actionID: actionID)] = ActionOutcome(
            planID: planID, actionID: actionID, executionID: executionID, ok: false, errorCode: nil,
            message: "started", startedAt: Date(), finishedAt: nil, state: .started)
    }

    public func recordOutcome(_ outcome: ActionOutcome) {
        records[Key(planID: outcome.planID, actionID: outcome.actionID)] = outcome
    }

    /// Every record, in no particular order.
    public var allOutcomes: [ActionOutcome] {
        Array(records.values)
    }
}
