import NKudoContract

/// The rules of an execution once its plan's lease holder reports on it: what the report
/// does to the execution, to the plan's other executions and to the VM it acts on. Pure:
/// the store reads the execution, asks, and persists the actions in order.
///
/// - Progress marks a PENDING execution IN_PROGRESS and places an unplaced VM on the
///   reporting agent's host.
/// - Success moves the VM to what the operation leaves it in: START → RUNNING,
///   DELETE → DELETED, CREATE and STOP → STOPPED (reference §9.12).
/// - Failure moves the VM to ERROR and cancels the plan's PENDING executions: a plan
///   stops at its first failed action.
/// - A terminal execution (SUCCEEDED, FAILED, CANCELLED) takes no report: replays and
///   late reports change nothing.
enum ExecutionStateMachine {
    /// What an agent reports about an execution.
    enum Report: Sendable, Hashable {
        case inProgress
        case succeeded
        case failed(Failure)
    }

    /// What the store persists, in this order.
    enum Action: Sendable, Hashable {
        /// The execution becomes IN_PROGRESS on the agent's host, started now if it had not.
        case markInProgress
        /// The execution's VM, not placed on any host yet, is placed on the agent's host.
        case placeVM
        /// The execution ends in `state` (SUCCEEDED or FAILED) with the failure's code and
        /// message (nil on success), on the agent's host.
        case finish(Execution.State, failure: Failure?)
        /// The plan's PENDING executions become CANCELLED.
        case cancelPendingExecutions
        /// The execution's VM moves to `state` (``MicroVMTransition`` decides whether it may).
        case moveVM(MicroVM.State)
    }

    /// Why an execution failed.
    struct Failure: Sendable, Hashable {
        var code: String
        var message: String

        /// The failure an agent reports, with `ACTION_FAILED` / `action failed` for what it
        /// leaves blank.
        init(code: String?, message: String?) {
            self.code = code.flatMap { $0.allSatisfy(\.isWhitespace) ? nil : $0 } ?? "ACTION_FAILED"
            self.message = message.flatMap { $0.allSatisfy(\.isWhitespace) ? nil : $0 } ?? "action failed"
        }
    }

    /// The actions of `report` on an execution in `state` whose operation is `operation`.
    static func actions(for report: Report, state: Execution.State, operation: Execution.Operation) -> [Action] {
        guard !state.isTerminal else { return [] }
        switch report {
        case .inProgress:
            return state == .pending ? [.markInProgress, .placeVM] : [.placeVM]
        case .succeeded:
            return [.finish(.succeeded, failure: nil), .moveVM(vmState(afterSucceeded: operation))]
        case .failed(let failure):
            return [.finish(.failed, failure: failure), .cancelPendingExecutions, .moveVM(.error)]
        }
    }

    /// The state a VM is left in by a succeeded operation.
    static func vmState(afterSucceeded operation: Execution.Operation) -> MicroVM.State {
        switch operation {
        case .start: .running
        case .delete: .deleted
        default: .stopped
        }
    }
}
