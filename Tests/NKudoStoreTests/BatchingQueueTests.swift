import Synchronization
import Testing

@testable import NKudoStore

@Suite("BatchingQueue", .timeLimit(.minutes(1)))
struct BatchingQueueTests {
    /// A runner that records its calls and holds the first one until `release()`.
    final class Runner: Sendable {
        private let calls = Mutex<[[Int]]>([])
        private let gate = Mutex<CheckedContinuation<Void, Never>?>(nil)
        private let started = Mutex<Bool>(false)
        /// Outcomes returned per call, at most (nil: one per member).
        let limit: Int?

        init(limit: Int? = nil) {
            self.limit = limit
        }

        var recorded: [[Int]] { calls.withLock { $0 } }

        func run(_ members: [Int]) async -> [String?] {
            let first = calls.withLock { calls in
                calls.append(members)
                return calls.count == 1
            }
            if first {
                await withCheckedContinuation { continuation in
                    gate.withLock { $0 = continuation }
                    started.withLock { $0 = true }
                }
            }
            return members.prefix(limit ?? members.count).map { "outcome \($0)" }
        }

        /// Waits until the first call holds, then lets it return.
        func release() async {
            while !started.withLock({ $0 }) { await Task.yield() }
            gate.withLock { $0 }?.resume()
        }
    }

    /// Submits `first`, then the others while the first call is held, then releases it.
    private func submit(_ queue: BatchingQueue<Int, String>, runner: Runner, first: Int, then others: [Int]) async -> [Int: String?] {
        await withTaskGroup(of: (Int, String?).self) { group in
            group.addTask { (first, await queue.submit(first)) }
            while runner.recorded.isEmpty { await Task.yield() }
            for member in others {
                group.addTask { (member, await queue.submit(member)) }
            }
            while queue.statistics.waiting < others.count { await Task.yield() }
            await runner.release()
            return await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
    }

    @Test("what arrives while the only call runs goes with the next calls, at most maximumSize each, each member with its own outcome")
    func waitingMembersGoTogether() async {
        let runner = Runner()
        let queue = BatchingQueue<Int, String>(maximumRunning: 1, maximumSize: 3, maximumWaiting: 100) { await runner.run($0) }
        let outcomes = await submit(queue, runner: runner, first: 0, then: [1, 2, 3, 4, 5])
        #expect(outcomes.count == 6)
        for (member, outcome) in outcomes {
            #expect(outcome == "outcome \(member)")
        }
        let calls = runner.recorded
        #expect(calls.first == [0])
        #expect(calls.dropFirst().map(\.count) == [3, 2])
        #expect(calls.dropFirst().flatMap { $0 }.sorted() == [1, 2, 3, 4, 5])
    }

    @Test("a member nothing was returned for gets nil and is counted as left; the queue goes on")
    func missingOutcomesAreNil() async {
        let runner = Runner(limit: 1)
        let queue = BatchingQueue<Int, String>(maximumRunning: 1, maximumSize: 8, maximumWaiting: 100) { await runner.run($0) }
        let outcomes = await submit(queue, runner: runner, first: 0, then: [1, 2])
        #expect(outcomes[0] == "outcome 0")
        #expect(outcomes.values.filter { $0 == nil }.count == 1)
        #expect(await queue.submit(7) == "outcome 7")
        var counted = BatchingQueueStatistics()
        (counted.calls, counted.answered, counted.left) = (3, 3, 1)
        #expect(queue.statistics == counted)
    }

    @Test("with a call free, a member runs at once and alone")
    func freeCallRunsAtOnce() async {
        let runner = Runner()
        let queue = BatchingQueue<Int, String>(maximumRunning: 2, maximumSize: 8, maximumWaiting: 100) { await runner.run($0) }
        async let held = queue.submit(0)
        while runner.recorded.isEmpty { await Task.yield() }
        #expect(await queue.submit(1) == "outcome 1")
        await runner.release()
        #expect(await held == "outcome 0")
        #expect(runner.recorded == [[0], [1]])
    }

    @Test("past maximumWaiting a submission gets nil at once; a cancelled one stops waiting with nil and is not run; both are counted as turned away")
    func fullQueueAndCancelledWaitGetNil() async {
        let runner = Runner()
        let queue = BatchingQueue<Int, String>(maximumRunning: 1, maximumSize: 8, maximumWaiting: 2)
        { await runner.run($0) }
        async let held = queue.submit(0)
        while runner.recorded.isEmpty { await Task.yield() }
        let waiting = Task { await queue.submit(1) }
        let cancelled = Task { await queue.submit(2) }
        while queue.statistics.waiting < 2 { await Task.yield() }
        #expect(await queue.submit(3) == nil)
        cancelled.cancel()
        #expect(await cancelled.value == nil)
        #expect(queue.statistics.waiting == 1)
        var counted = BatchingQueueStatistics()
        (counted.waiting, counted.turnedAway) = (1, 2)
        #expect(queue.statistics == counted)
        await runner.release()
        #expect(await held == "outcome 0")
        #expect(await waiting.value == "outcome 1")
        #expect(runner.recorded == [[0], [1]])
        (counted.waiting, counted.calls, counted.answered) = (0, 2, 2)
        #expect(queue.statistics == counted)
    }
}
