internal import Synchronization

/// Submissions run many to one call of a runner, the way a database groups commits: a
/// submission that finds fewer than `maximumRunning` calls running and none waiting runs
/// at once, alone; one that finds them all busy waits, and goes with the next call, which
/// takes whatever arrived meanwhile (at most `maximumSize`) as soon as a running call
/// returns. Under a light load nothing waits; under a heavy one the cost of a call is
/// shared by many.
///
/// The runner returns one outcome per member, in order; a member it has no outcome for
/// (it returned fewer) gets nil, as when the runner gives up on a whole call. A submission
/// also gets nil, without waiting, when `maximumWaiting` wait already, and at once when its
/// task is cancelled while it waits: the caller then does without the queue. ``statistics``
/// counts all of it.
final class BatchingQueue<Member: Sendable, Outcome: Sendable>: Sendable {
    /// A submission waiting for a call.
    private struct Waiting {
        let id: Int
        let member: Member
        let continuation: CheckedContinuation<Outcome?, Never>
    }

    private struct State {
        var waiting: [Waiting] = []
        var running = 0
        var nextID = 0
        var counted = BatchingQueueStatistics()

        /// Removes and returns the first `count` (at most) waiting submissions.
        mutating func take(_ count: Int) -> [Waiting] {
            let taken = Array(waiting.prefix(count))
            waiting.removeFirst(taken.count)
            return taken
        }
    }

    /// Calls of the runner at most at once.
    let maximumRunning: Int
    /// Members of one call at most.
    let maximumSize: Int
    /// Submissions waiting at most.
    let maximumWaiting: Int
    private let runner: @Sendable ([Member]) async -> [Outcome?]
    private let state = Mutex(State())

    /// A queue of calls of `runner`; `maximumRunning` and `maximumSize` are at least 1.
    init(maximumRunning: Int, maximumSize: Int, maximumWaiting: Int, runner: @escaping @Sendable ([Member]) async -> [Outcome?]) {
        self.maximumRunning = max(maximumRunning, 1)
        self.maximumSize = max(maximumSize, 1)
        self.maximumWaiting = max(maximumWaiting, 0)
        self.runner = runner
    }

    /// What the queue did since it was made, and what waits now.
    var statistics: BatchingQueueStatistics {
        state.withLock { state in
            var statistics = state.counted
            statistics.waiting = state.waiting.count
            return statistics
        }
    }

    /// The member's outcome, from the call it went with.
    func submit(_ member: Member) async -> Outcome? {
        let alone = state.withLock { state in
            guard state.running < maximumRunning, state.waiting.isEmpty else { return false }
            state.running += 1
            return true
        }
        if alone {
            let outcome = await runner([member]).first ?? nil
            if let next = nextCall(after: [outcome]) { drainDetached(next) }
            return outcome
        }
        let id = state.withLock { state in
            defer { state.nextID &+= 1 }
            return state.nextID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                enqueue(Waiting(id: id, member: member, continuation: continuation))
            }
        } onCancel: {
            let cancelled = state.withLock { state -> Waiting? in
                guard let index = state.waiting.firstIndex(where: { $0.id == id }) else { return nil }
                state.counted.turnedAway += 1
                return state.waiting.remove(at: index)
            }
            cancelled?.continuation.resume(returning: nil)
        }
    }

    /// Queues the submission; starts a call when one is free. A submission of a cancelled
    /// task, or one past `maximumWaiting`, gets nil at once.
    private func enqueue(_ waiting: Waiting) {
        let queued = state.withLock { state -> (accepted: Bool, call: [Waiting]?) in
            guard !Task.isCancelled, state.waiting.count < maximumWaiting else {
                state.counted.turnedAway += 1
                return (false, nil)
            }
            state.waiting.append(waiting)
            guard state.running < maximumRunning else { return (true, nil) }
            state.running += 1
            return (true, state.take(maximumSize))
        }
        guard queued.accepted else {
            waiting.continuation.resume(returning: nil)
            return
        }
        if let call = queued.call { drainDetached(call) }
    }

    /// ``drain(_:)`` in a task of its own, with none of the submitter's task-local values.
    private func drainDetached(_ call: [Waiting]) {
        Task.detached { await self.drain(call) }
    }

    /// Runs calls, this one first, until nothing waits.
    private func drain(_ first: [Waiting]) async {
        var call = first
        while true {
            let returned = await runner(call.map(\.member))
            let outcomes = call.indices.map { $0 < returned.count ? returned[$0] : nil }
            let next = nextCall(after: outcomes)
            for (waiting, outcome) in zip(call, outcomes) {
                waiting.continuation.resume(returning: outcome)
            }
            guard let next else { return }
            call = next
        }
    }

    /// The members of the next call, for a call that just returned with `outcomes` (counted
    /// before its members get them); nil (and one call fewer running) when nothing waits.
    private func nextCall(after outcomes: [Outcome?]) -> [Waiting]? {
        state.withLock { state in
            state.counted.calls += 1
            let answered = outcomes.count { $0 != nil }
            state.counted.answered += answered
            state.counted.left += outcomes.count - answered
            guard !state.waiting.isEmpty else {
                state.running -= 1
                return nil
            }
            return state.take(maximumSize)
        }
    }
}

/// What a queue of calls did (``BatchingQueue``): totals since it was made, and what waits
/// now. The members of calls are `answered + left`; the average call carries
/// `(answered + left) / calls` of them.
public struct BatchingQueueStatistics: Sendable, Hashable {
    /// Submissions waiting for a call now.
    public var waiting = 0
    /// Calls of the runner (for heartbeats: transactions).
    public var calls = 0
    /// Members that went with a call and got their outcome from it.
    public var answered = 0
    /// Members that went with a call and got none: left to do without the queue.
    public var left = 0
    /// Submissions that went with no call: too many waited, or their task was cancelled.
    public var turnedAway = 0

    /// Totals of nothing yet.
    public init() {}
}
