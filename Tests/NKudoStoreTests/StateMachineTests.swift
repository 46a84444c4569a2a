import NKudoContract
@testable import NKudoStore
import Testing

/// The plan and execution rules without a database: every transition in a table.
@Suite("Execution, VM and plan state machines")
struct StateMachineTests {
    typealias Machine = ExecutionStateMachine
    static let failure = Machine.Failure(code: "E_TAP", message: "tap busy")

    /// (execution state, report, operation) → actions, for every non-terminal state.
    static let executionTable: [(Execution.State, Machine.Report, Execution.Operation, [Machine.Action])] = [
        (.pending, .inProgress, .create, [.markInProgress, .placeVM]),
        (.pending, .inProgress, .delete, [.markInProgress, .placeVM]),
        (.inProgress, .inProgress, .start, [.placeVM]),
        (.pending, .succeeded, .create, [.finish(.succeeded, failure: nil), .moveVM(.stopped)]),
        (.pending, .succeeded, .start, [.finish(.succeeded, failure: nil), .moveVM(.running)]),
        (.inProgress, .succeeded, .create, [.finish(.succeeded, failure: nil), .moveVM(.stopped)]),
        (.inProgress, .succeeded, .start, [.finish(.succeeded, failure: nil), .moveVM(.running)]),
        (.inProgress, .succeeded, .stop, [.finish(.succeeded, failure: nil), .moveVM(.stopped)]),
        (.inProgress, .succeeded, .delete, [.finish(.succeeded, failure: nil), .moveVM(.deleted)]),
        (.pending, .failed(failure), .create, [.finish(.failed, failure: failure), .cancelPendingExecutions, .moveVM(.error)]),
        (.inProgress, .failed(failure), .start, [.finish(.failed, failure: failure), .cancelPendingExecutions, .moveVM(.error)]),
        (.inProgress, .failed(failure), .delete, [.finish(.failed, failure: failure), .cancelPendingExecutions, .moveVM(.error)]),
    ]

    @Test("a report on a PENDING or IN_PROGRESS execution: the table", arguments: 0..<executionTable.count)
    func executionTransitions(row: Int) {
        let (state, report, operation, expected) = Self.executionTable[row]
        #expect(Machine.actions(for: report, state: state, operation: operation) == expected, "\(state) + \(report) on \(operation)")
    }

    @Test("a terminal execution takes no report: replays and late reports change nothing",
          arguments: [Execution.State.succeeded, .failed, .cancelled])
    func terminalExecutions(state: Execution.State) {
        for report in [Machine.Report.inProgress, .succeeded, .failed(Self.failure)] {
            for operation in [Execution.Operation.create, .start, .stop, .delete] {
                #expect(Machine.actions(for: report, state: state, operation: operation).isEmpty)
            }
        }
    }

    @Test("a failure without code or message gets ACTION_FAILED / action failed")
    func failureDefaults() {
        #expect(Machine.Failure(code: nil, message: "  ") == Machine.Failure(code: "ACTION_FAILED", message: "action failed"))
        #expect(Machine.Failure(code: "E", message: "m") == Machine.Failure(code: "E", message: "m"))
    }

    @Test("VM transitions: DELETED is terminal, the same state only re-places the VM, any other state moves it")
    func vmTransitions() {
        #expect(MicroVMTransition.decide(from: .deleted, to: .running) == .none)
        #expect(MicroVMTransition.decide(from: .deleted, to: .deleted) == .none)
        #expect(MicroVMTransition.decide(from: .running, to: .running) == .touch)
        #expect(MicroVMTransition.decide(from: .stopped, to: .running) == .move(from: .stopped, to: .running))
        #expect(MicroVMTransition.decide(from: .running, to: .deleted) == .move(from: .running, to: .deleted))
        #expect(MicroVMTransition.decide(from: .creating, to: .error) == .move(from: .creating, to: .error))
    }

    /// (stored status, execution counts) → (status, action).
    static let rollUpTable: [(Plan.Status, [Execution.State: Int64], Plan.Status, PlanRollUp.Action)] = [
        (.pending, [.pending: 3], .pending, .none),
        (.pending, [.pending: 2, .inProgress: 1], .inProgress, .update(.inProgress)),
        (.pending, [.pending: 2, .succeeded: 1], .inProgress, .update(.inProgress)),
        (.inProgress, [.pending: 3], .inProgress, .none),
        (.inProgress, [.succeeded: 2, .inProgress: 1], .inProgress, .none),
        (.inProgress, [.succeeded: 3], .succeeded, .complete(.succeeded)),
        (.pending, [.succeeded: 1], .succeeded, .complete(.succeeded)),
        (.inProgress, [.succeeded: 1, .failed: 1, .cancelled: 1], .failed, .complete(.failed)),
        (.inProgress, [.failed: 1, .pending: 1], .failed, .complete(.failed)),
        (.inProgress, [.succeeded: 1, .cancelled: 2], .cancelled, .complete(.cancelled)),
        (.pending, [.cancelled: 2], .cancelled, .complete(.cancelled)),
        (.failed, [.failed: 1, .cancelled: 1], .failed, .none),
        (.pending, [:], .pending, .none),
    ]

    @Test("plan roll-up: the table", arguments: 0..<rollUpTable.count)
    func planRollUp(row: Int) {
        let (stored, counts, status, action) = Self.rollUpTable[row]
        let rollUp = PlanRollUp(stored: stored, counts: counts)
        #expect(rollUp.status == status, "\(stored) with \(counts)")
        #expect(rollUp.action == action, "\(stored) with \(counts)")
    }
}
