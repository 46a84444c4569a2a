public import Foundation

/// The executor's idempotency ledger, keyed by (plan id, action id): an action is
/// recorded when it starts and again when it ends, so a crash between the two is
/// visible after a restart. ``EdgeStateStore`` is the durable implementation.
public protocol ActionLedger: Sendable {
    /// The latest record of the action, nil if it was never started.
    func ledgerEntry(planID: String, actionID: String) async throws -> LedgerEntry?
    /// Records that the action starts (state ``LedgerEntry/State/started``), replacing any
    /// earlier record.
    @discardableResult
    func recordLedgerStarted(planID: String, actionID: String, executionID: String, startedAt: Date) async throws -> LedgerEntry
    /// Records the action's outcome, replacing the started record (whose start time is kept).
    @discardableResult
    func recordLedgerOutcome(planID: String, actionID: String, executionID: String, succeeded: Bool, errorCode: String?,
                             message: String, finishedAt: Date) async throws -> LedgerEntry
}

extension EdgeStateStore: ActionLedger {}
