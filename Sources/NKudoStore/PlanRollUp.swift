import NKudoContract

/// A plan's status from its executions' states, and what the store writes for it. Pure.
///
/// - Any FAILED → FAILED; all SUCCEEDED → SUCCEEDED; none left PENDING or IN_PROGRESS
///   (cancelled, or cancelled and succeeded) → CANCELLED;
/// - started (stored IN_PROGRESS, an execution IN_PROGRESS or already SUCCEEDED) →
///   IN_PROGRESS; else PENDING.
/// - A status that becomes terminal is written with `completed_at` and releases the
///   plan's lease; another changed status is written; an unchanged one is not.
struct PlanRollUp: Sendable, Hashable {
    /// What the store writes.
    enum Action: Sendable, Hashable {
        /// The plan is finished: status, `completed_at`, lease released.
        case complete(Plan.Status)
        /// The plan's status changes.
        case update(Plan.Status)
        /// Nothing to write.
        case none
    }

    /// The status the plan has now.
    let status: Plan.Status
    /// What to write.
    let action: Action

    /// The roll-up of a plan stored as `stored` whose executions are counted by state in `counts`.
    init(stored: Plan.Status, counts: [Execution.State: Int64]) {
        let total = counts.values.reduce(0, +)
        let count = { (state: Execution.State) in counts[state, default: 0] }
        if count(.failed) > 0 {
            status = .failed
        } else if total > 0 && count(.succeeded) == total {
            status = .succeeded
        } else if total > 0 && count(.pending) + count(.inProgress) == 0 {
            status = .cancelled
        } else if stored == .inProgress || count(.inProgress) > 0 || count(.succeeded) > 0 {
            status = .inProgress
        } else {
            status = .pending
        }
        action = status == stored ? .none : status.isTerminal ? .complete(status) : .update(status)
    }
}
