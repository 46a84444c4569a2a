import Testing

@testable import NKudoSQL
@testable import NKudoStorePostgres
import SQLTestSupport

/// The drivers' pure parts, without a database.
@Suite("Driver logic")
struct DriverUnitTests {
    @Test(
        "SQLite placeholders: $n becomes ?n outside literals, identifiers and comments",
        arguments: [
            ("SELECT * FROM t WHERE a = $2 AND b = $1", "SELECT * FROM t WHERE a = ?2 AND b = ?1"),
            ("VALUES ($10,$1)", "VALUES (?10,?1)"),
            ("SELECT '$1', 'it''s $2', \"$3\", `$4`, [$5] FROM t", "SELECT '$1', 'it''s $2', \"$3\", `$4`, [$5] FROM t"),
            ("SELECT 1 -- $1\nWHERE x = $1", "SELECT 1 -- $1\nWHERE x = ?1"),
            ("SELECT /* $1 */ $1", "SELECT /* $1 */ ?1"),
            ("SELECT price$1, $ FROM t WHERE $x = $1", "SELECT price$1, $ FROM t WHERE $x = ?1"),
            ("SELECT 'unterminated $1", "SELECT 'unterminated $1"),
            ("SELECT é$1, ($1)", "SELECT é$1, (?1)"),
        ]
    )
    func rewritesPlaceholders(sql: String, expected: String) {
        #expect(SQLitePlaceholders.rewrite(sql) == expected)
    }

    @Test("the pool lends idle connections first, opens up to its maximum, then queues waiters in order")
    func poolStateMachineLendsAndQueues() {
        var pool = TestPool(maximum: 2)
        #expect(outcome(pool.acquire(id: 1, waiter: "a")) == "open a new connection")
        #expect(outcome(pool.acquire(id: 2, waiter: "b")) == "open a new connection")
        #expect(outcome(pool.acquire(id: 3, waiter: "c")) == "wait")
        #expect(outcome(pool.acquire(id: 4, waiter: "d")) == "wait")
        #expect(pool.statistics == ConnectionPoolStatistics(open: 2, inUse: 2, waiting: 2))

        let first = TestConnection(name: "first")
        #expect(outcome(pool.release(first)) == "resume c with first")
        #expect(outcome(pool.releaseSlot()) == "resume d to open a new connection")
        #expect(outcome(pool.release(first)) == "none")
        #expect(pool.statistics == ConnectionPoolStatistics(open: 2, inUse: 1, waiting: 0))
        #expect(outcome(pool.acquire(id: 5, waiter: "e")) == "use first")
        #expect(outcome(pool.releaseSlot()) == "none")
        #expect(outcome(pool.release(first)) == "none")
        #expect(pool.statistics == ConnectionPoolStatistics(open: 1, inUse: 0, waiting: 0))
    }

    @Test("a cancelled waiter leaves the queue; closing fails waiters and closes what comes back")
    func poolStateMachineCancelsAndCloses() {
        let idle = TestConnection(name: "idle")
        var pool = TestPool(maximum: 2, idle: [idle])
        #expect(outcome(pool.acquire(id: 1, waiter: "a")) == "use idle")
        #expect(outcome(pool.acquire(id: 2, waiter: "b")) == "open a new connection")
        #expect(outcome(pool.acquire(id: 3, waiter: "c")) == "wait")
        #expect(outcome(pool.acquire(id: 4, waiter: "d")) == "wait")
        #expect(pool.cancel(id: 3) == "c")
        #expect(pool.cancel(id: 3) == nil)
        #expect(pool.close() == ["d"])
        #expect(outcome(pool.acquire(id: 5, waiter: "e")) == "fail")
        #expect(outcome(pool.release(idle)) == "close idle")
        #expect(outcome(pool.releaseSlot()) == "none")
        #expect(pool.statistics == ConnectionPoolStatistics(open: 0, inUse: 0, waiting: 0))
    }

    @Test("draining idle connections frees their slots")
    func poolStateMachineDrainsIdle() {
        var pool = TestPool(maximum: 3, idle: [TestConnection(name: "one"), TestConnection(name: "two")])
        #expect(outcome(pool.acquire(id: 1, waiter: "a")) == "use two")
        #expect(pool.drainIdle().map(\.name) == ["one"])
        #expect(pool.statistics == ConnectionPoolStatistics(open: 1, inUse: 1, waiting: 0))
    }

    @Test("PostgreSQL retries: a lost connection once and only before the body took effect")
    func retryOnLostConnection() {
        var fresh = PostgresRetryStateMachine(inTransaction: false)
        #expect(fresh.attemptFailed(.connectionLost, bodyMayHaveTakenEffect: false) == .retryOnNewConnection)
        #expect(fresh.attemptFailed(.connectionLost, bodyMayHaveTakenEffect: false) == .fail)
        #expect(fresh.attempts == 2)

        var started = PostgresRetryStateMachine(inTransaction: true)
        #expect(started.attemptFailed(.connectionLost, bodyMayHaveTakenEffect: true) == .fail)

        var ordinary = PostgresRetryStateMachine(inTransaction: true)
        #expect(ordinary.attemptFailed(nil, bodyMayHaveTakenEffect: false) == .fail)
    }

    @Test("PostgreSQL retries: serialization failures 3 times, in transactions only")
    func retryOnSerializationFailure() {
        var transaction = PostgresRetryStateMachine(inTransaction: true)
        for _ in 0..<3 {
            #expect(transaction.attemptFailed(.serialization, bodyMayHaveTakenEffect: true) == .retry)
        }
        #expect(transaction.attemptFailed(.serialization, bodyMayHaveTakenEffect: true) == .failSerializationRetriesExhausted)
        #expect(transaction.attempts == 4)
        #expect(transaction.attemptFailed(.connectionLost, bodyMayHaveTakenEffect: false) == .retryOnNewConnection)

        var connection = PostgresRetryStateMachine(inTransaction: false)
        #expect(connection.attemptFailed(.serialization, bodyMayHaveTakenEffect: false) == .fail)
    }

    @Test(
        "PostgreSQL SQLSTATEs map to store error codes",
        arguments: [
            ("23505", StoreError.Code.conflict, PostgresFailure?.none),
            ("23503", .notFound, nil),
            ("23514", .invalid, nil),
            ("23502", .invalid, nil),
            ("22P02", .invalid, nil),
            ("40001", .database, .serialization),
            ("40P01", .database, .serialization),
            ("08006", .unavailable, .connectionLost),
            ("57P01", .unavailable, .connectionLost),
            ("08P01", .database, nil),
            ("42P01", .database, nil),
        ]
    )
    func postgresErrorMapping(sqlState: String, code: StoreError.Code, failure: PostgresFailure?) {
        let mapped = PostgresErrorMapping.error(sqlState: sqlState, connectionLost: false, underlying: "message")
        #expect(mapped.error.code == code)
        #expect(mapped.failure == failure)
        #expect(mapped.error.underlying == "message")
    }

    @Test("a broken connection is .unavailable whatever the SQLSTATE")
    func brokenConnectionIsUnavailable() {
        let mapped = PostgresErrorMapping.error(sqlState: nil, connectionLost: true, underlying: "server closed the connection unexpectedly")
        #expect(mapped.error.code == .unavailable)
        #expect(mapped.failure == .connectionLost)
    }
}

private final class TestConnection: Sendable {
    let name: String
    init(name: String) { self.name = name }
}

private typealias TestPool = ConnectionPoolStateMachine<TestConnection, String>

private func outcome(_ action: TestPool.AcquireAction) -> String {
    switch action {
    case .lease(.connection(let connection)): "use \(connection.name)"
    case .lease(.newConnection): "open a new connection"
    case .wait: "wait"
    case .fail: "fail"
    }
}

private func outcome(_ action: TestPool.ReleaseAction) -> String {
    switch action {
    case .resume(let waiter, .connection(let connection)): "resume \(waiter) with \(connection.name)"
    case .resume(let waiter, .newConnection): "resume \(waiter) to open a new connection"
    case .none: "none"
    case .close(let connection): "close \(connection.name)"
    }
}
