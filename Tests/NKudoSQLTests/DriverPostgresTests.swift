import Foundation
import Synchronization
import Testing

@testable import NKudoSQL
@testable import NKudoStorePostgres
import SQLTestSupport

/// PostgreSQL-only driver behaviour: URLs, reconnecting, serialization retries.
@Suite("PostgreSQL driver")
struct DriverPostgresTests {
    @Test("a malformed URL fails early with .invalid, without the URL in the error")
    func malformedURLIsInvalid() {
        for url in ["postgresql://nkudo:s3cret@[::1/db", "postgres://nkudo:s3cret@host/db?nonsense=1", "host=localhost port"] {
            do {
                _ = try PostgresDatabase(url: url, logger: silentLogger)
                Issue.record("\(url) was accepted")
            } catch {
                #expect(error.code == .invalid)
                #expect(!error.description.contains("s3cret"))
            }
        }
    }

    @Test("an array parameter reaches PostgreSQL element by element, whatever the elements hold", .enabled(if: postgresTestsEnabled))
    func arrayParametersRoundTrip() async throws {
        try await withTestDatabase(.postgres) { _, database in
            let texts: [SQLValue] = [
                .text(""), .null, .text("NULL"), .text("a,b"), .text("{x}"), .text("quote \" and backslash \\"), .text("\\\""),
                .text(" spaced "), .text("line\nbreak\ttab"), .text("ünïcødé ✓ 🚀"), .text("'; DROP TABLE agents; --"),
            ]
            let integers: [SQLValue] = [.int(0), .int(-1), .int(.max), .int(.min), .null]
            let rows = try await database.withConnection { connection throws(StoreError) in
                try connection.queries([
                    SQLStatement(raw: "SELECT t FROM unnest(CAST($1 AS TEXT[])) WITH ORDINALITY AS u (t, n) ORDER BY n",
                                 [.postgresArray(texts)]),
                    SQLStatement(raw: "SELECT i FROM unnest(CAST($1 AS BIGINT[])) WITH ORDINALITY AS u (i, n) ORDER BY n",
                                 [.postgresArray(integers)]),
                    SQLStatement(raw: "SELECT b, d, y FROM unnest(CAST($1 AS BOOLEAN[]), CAST($2 AS DOUBLE PRECISION[]), CAST($3 AS BYTEA[])) AS u (b, d, y)",
                                 [.postgresArray([.bool(true), .bool(false)]), .postgresArray([.double(0.5), .double(-1e-300)]),
                                  .postgresArray([.blob([0x00, 0xff, 0x5c]), .blob([])])]),
                    SQLStatement(raw: "SELECT cardinality(CAST($1 AS TEXT[])) AS n", [.postgresArray([])]),
                ])
            }
            #expect(rows[0].map { $0["t"] } == texts)
            #expect(rows[1].map { $0["i"] } == integers)
            #expect(rows[2].map { $0["b"] } == [.bool(true), .bool(false)])
            #expect(rows[2].map { $0["d"] } == [.double(0.5), .double(-1e-300)])
            #expect(rows[2].map { $0["y"] } == [.blob([0x00, 0xff, 0x5c]), .blob([])])
            #expect(try rows[3].first?.int64("n") == 0)
        }
    }

    @Test("an unreachable server is .unavailable")
    func unreachableServerIsUnavailable() async throws {
        let database = try PostgresDatabase(url: "postgres://nkudo:nkudo@127.0.0.1:1/nkudo?connect_timeout=2", logger: silentLogger)
        let error = await storeError {
            try await database.withConnection { _ throws(StoreError) in }
        }
        #expect(error?.code == .unavailable)
        #expect(database.poolStatistics == ConnectionPoolStatistics(open: 0, inUse: 0, waiting: 0))
        await database.close()
    }

    @Test("the next call succeeds after every backend of the pool was terminated", .enabled(if: postgresTestsEnabled))
    func reconnectsAfterBackendsAreTerminated() async throws {
        try await withTestDatabase(.postgres, maxConnections: 3) { storage, database in
            let postgres = try #require(database as? PostgresDatabase)
            try await database.withConnection { connection throws(StoreError) in
                try connection.executeScript("CREATE TABLE visits (n INTEGER NOT NULL)")
            }
            // Open all three connections: three bodies that wait for each other.
            let barrier = ThreadBarrier(parties: 3)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<3 {
                    group.addTask {
                        try await database.withConnection { _ throws(StoreError) in barrier.arriveAndWait(timeout: 10) }
                    }
                }
                try await group.waitForAll()
            }
            #expect(postgres.poolStatistics.open == 3)
            let terminated = try await terminateBackends(of: storage)
            #expect(terminated == 3)

            let inserted = try await database.withTransaction { connection throws(StoreError) in
                try connection.execute(SQLStatement(raw: "INSERT INTO visits (n) VALUES ($1)", [.int(1)]))
            }
            #expect(inserted == 1)
            let rows = try await database.withConnection { connection throws(StoreError) in
                try connection.query(SQLStatement(raw: "SELECT COUNT(*) AS n FROM visits"))
            }
            #expect(rows.first?["n"] == .int(1))
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<6 {
                    group.addTask {
                        _ = try await database.withConnection { connection throws(StoreError) in
                            try connection.query(SQLStatement(raw: "SELECT 1 AS one"))
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(postgres.poolStatistics.open <= 3)
        }
    }

    @Test("a body whose statement loses the connection after another succeeded is not run again", .enabled(if: postgresTestsEnabled))
    func noRetryAfterAStatementSucceeded() async throws {
        try await withTestDatabase(.postgres, maxConnections: 2) { _, database in
            let runs = Mutex(0)
            let error = await storeError {
                try await database.withConnection { connection throws(StoreError) in
                    runs.withLock { $0 += 1 }
                    _ = try connection.query(SQLStatement(raw: "SELECT 1 AS one"))
                    _ = try connection.query(SQLStatement(raw: "SELECT pg_terminate_backend(pg_backend_pid())"))
                }
            }
            #expect(error?.code == .unavailable)
            #expect(runs.withLock { $0 } == 1)
            let after = try await database.withConnection { connection throws(StoreError) in
                try connection.query(SQLStatement(raw: "SELECT 2 AS two"))
            }
            #expect(after.first?["two"] == .int(2))
        }
    }

    @Test("a body whose first statement loses the connection runs once more, on a new connection", .enabled(if: postgresTestsEnabled))
    func retriesOnceBeforeAnyStatementSucceeded() async throws {
        try await withTestDatabase(.postgres, maxConnections: 2) { _, database in
            let killed = Mutex(0)
            let error = await storeError {
                try await database.withTransaction { connection throws(StoreError) in
                    killed.withLock { $0 += 1 }
                    _ = try connection.query(SQLStatement(raw: "SELECT pg_terminate_backend(pg_backend_pid())"))
                }
            }
            // The statement kills its own backend before it returns, so it never succeeds:
            // the body runs on a new connection once, then the error is reported.
            #expect(error?.code == .unavailable)
            #expect(killed.withLock { $0 } == 2)
            let runs = Mutex(0)
            let value = try await database.withTransaction { connection throws(StoreError) in
                runs.withLock { $0 += 1 }
                return try connection.query(SQLStatement(raw: "SELECT 3 AS three")).first?["three"]
            }
            #expect(value == .int(3))
            #expect(runs.withLock { $0 } == 1)
        }
    }

    @Test("BEGIN goes out with the first statement: a failing first statement, an empty body and a script still behave", .enabled(if: postgresTestsEnabled))
    func beginWithTheFirstStatement() async throws {
        try await withTestDatabase(.postgres, maxConnections: 1) { _, database in
            try await database.withConnection { connection throws(StoreError) in
                try connection.executeScript("CREATE TABLE pipelined (id INTEGER PRIMARY KEY)")
            }
            let failed = await storeError {
                try await database.withTransaction { connection throws(StoreError) in
                    try connection.execute(SQLStatement(raw: "INSERT INTO pipelined (id) VALUES ($1)", [.text("not a number")]))
                }
            }
            #expect(failed?.code == .invalid)
            try await database.withTransaction { _ throws(StoreError) in }
            try await database.withTransaction { connection throws(StoreError) in
                try connection.executeScript("INSERT INTO pipelined (id) VALUES (1); INSERT INTO pipelined (id) VALUES (2)")
                try connection.execute(SQLStatement(raw: "INSERT INTO pipelined (id) VALUES ($1)", [.int(3)]))
            }
            let rolledBack = await storeError {
                try await database.withTransaction { connection throws(StoreError) in
                    try connection.execute(SQLStatement(raw: "INSERT INTO pipelined (id) VALUES ($1)", [.int(4)]))
                    try connection.execute(SQLStatement(raw: "INSERT INTO pipelined (id) VALUES ($1)", [.int(1)]))
                }
            }
            #expect(rolledBack?.code == .conflict)
            let ids = try await database.withConnection { connection throws(StoreError) in
                try connection.query(SQLStatement(raw: "SELECT id FROM pipelined ORDER BY id")).map { $0["id"] }
            }
            #expect(ids == [.int(1), .int(2), .int(3)])
        }
    }

    @Test("a serialization failure runs the transaction again, up to 3 more times", .enabled(if: postgresTestsEnabled))
    func serializationFailuresAreRetried() async throws {
        try await withTestDatabase(.postgres) { _, database in
            try await database.withConnection { connection throws(StoreError) in
                try connection.executeScript("CREATE TABLE outcomes (attempt INTEGER NOT NULL)")
            }
            let attempts = Mutex(0)
            let succeededOn = try await database.withTransaction { connection throws(StoreError) in
                let attempt = attempts.withLock { count in
                    count += 1
                    return count
                }
                try connection.execute(SQLStatement(raw: "INSERT INTO outcomes (attempt) VALUES ($1)", [.int(Int64(attempt))]))
                if attempt < 3 {
                    try connection.executeScript(failWith("40001"))
                }
                return attempt
            }
            #expect(succeededOn == 3)
            let kept = try await database.withConnection { connection throws(StoreError) in
                try connection.query(SQLStatement(raw: "SELECT attempt FROM outcomes")).map(\.values)
            }
            #expect(kept == [[.int(3)]])

            let deadlocks = Mutex(0)
            let exhausted = await storeError {
                try await database.withTransaction { connection throws(StoreError) in
                    deadlocks.withLock { $0 += 1 }
                    try connection.executeScript(failWith("40P01"))
                }
            }
            #expect(exhausted?.code == .database)
            #expect(exhausted?.message.contains("4 attempts") == true)
            #expect(deadlocks.withLock { $0 } == 4)

            let outsideTransaction = Mutex(0)
            let notRetried = await storeError {
                try await database.withConnection { connection throws(StoreError) in
                    outsideTransaction.withLock { $0 += 1 }
                    try connection.executeScript(failWith("40001"))
                }
            }
            #expect(notRetried?.code == .database)
            #expect(outsideTransaction.withLock { $0 } == 1)
        }
    }

    @Test("a transaction whose body swallowed an error is rolled back and reported, not committed", .enabled(if: postgresTestsEnabled))
    func abortedTransactionIsNotCommitted() async throws {
        try await withTestDatabase(.postgres) { _, database in
            try await database.withConnection { connection throws(StoreError) in
                try connection.executeScript("CREATE TABLE notes (body TEXT UNIQUE)")
            }
            let error = await storeError {
                try await database.withTransaction { connection throws(StoreError) in
                    try connection.execute(SQLStatement(raw: "INSERT INTO notes (body) VALUES ($1)", [.text("kept?")]))
                    _ = try? connection.execute(SQLStatement(raw: "INSERT INTO notes (body) VALUES ($1)", [.text("kept?")]))
                }
            }
            #expect(error?.code == .database)
            let rows = try await database.withConnection { connection throws(StoreError) in
                try connection.query(SQLStatement(raw: "SELECT body FROM notes"))
            }
            #expect(rows.isEmpty)
        }
    }

    @Test("text with a NUL character is rejected before it reaches the server", .enabled(if: postgresTestsEnabled))
    func nulInTextIsInvalid() async throws {
        try await withTestDatabase(.postgres) { _, database in
            let error = await storeError {
                try await database.withConnection { connection throws(StoreError) in
                    try connection.query(SQLStatement(raw: "SELECT $1::text AS t", [.text("a\u{0}b")]))
                }
            }
            #expect(error?.code == .invalid)
        }
    }

    @Test(
        "the store carries on across a PostgreSQL restart (NKUDO_TEST_POSTGRES_RESTART=1; restarts the cluster)",
        .enabled(if: postgresTestsEnabled && ProcessInfo.processInfo.environment["NKUDO_TEST_POSTGRES_RESTART"] == "1")
    )
    func survivesServerRestart() async throws {
        try await withTestDatabase(.postgres, maxConnections: 2) { _, database in
            _ = try await database.withConnection { connection throws(StoreError) in
                try connection.query(SQLStatement(raw: "SELECT 1 AS one"))
            }
            #expect(runCommand("/usr/bin/pg_ctlcluster", ["15", "main", "restart"]) == 0)
            let rows = try await database.withTransaction { connection throws(StoreError) in
                try connection.query(SQLStatement(raw: "SELECT 2 AS two"))
            }
            #expect(rows.first?["two"] == .int(2))
        }
    }
}

/// A statement that fails with `sqlState`.
private func failWith(_ sqlState: String) -> String {
    "DO $$ BEGIN RAISE EXCEPTION 'simulated failure' USING ERRCODE = '\(sqlState)'; END $$"
}

/// Terminates the backends of the test's own connections (found by their application
/// name) from another connection and waits until they are gone; returns how many.
private func terminateBackends(of storage: TestStorage) async throws -> Int64 {
    try await withAdminDatabase(try postgresTestURL()) { admin in
        let terminated = try await admin.withConnection { connection throws(StoreError) in
            try connection.query(
                SQLStatement(
                    raw: """
                        WITH targets AS MATERIALIZED (
                            SELECT pid FROM pg_stat_activity
                            WHERE datname = current_database() AND application_name = $1 AND pid <> pg_backend_pid()
                        )
                        SELECT COUNT(*) FILTER (WHERE pg_terminate_backend(pid)) AS n FROM targets
                        """,
                    [.text(storage.name)]
                )
            )
        }
        for _ in 0..<100 {
            let remaining = try await admin.withConnection { connection throws(StoreError) in
                try connection.query(
                    SQLStatement(raw: "SELECT COUNT(*) AS n FROM pg_stat_activity WHERE application_name = $1", [.text(storage.name)])
                )
            }
            if remaining.first?["n"] == .int(0) { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        guard case .int(let count)? = terminated.first?["n"] else { return -1 }
        return count
    }
}

/// Runs a command to its end and returns its wait status (0: exited with 0), or -1 when it
/// cannot start. (Foundation's `Process.waitUntilExit` does not return in this test
/// process on Linux.)
private func runCommand(_ path: String, _ arguments: [String]) -> Int32 {
    let argv = ([path] + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var pid: pid_t = 0
    guard posix_spawn(&pid, path, nil, nil, argv, environ) == 0 else { return -1 }
    var status: Int32 = 0
    guard waitpid(pid, &status, 0) == pid else { return -1 }
    return status
}

/// Blocks threads until `parties` of them have arrived (or the timeout passes), so that
/// blocking bodies provably overlap.
final class ThreadBarrier: @unchecked Sendable {
    // @unchecked: all state is guarded by `condition`.
    private let condition = NSCondition()
    private let parties: Int
    private var arrived = 0

    init(parties: Int) {
        self.parties = parties
    }

    func arriveAndWait(timeout: TimeInterval) {
        condition.lock()
        defer { condition.unlock() }
        arrived += 1
        condition.broadcast()
        let deadline = Date().addingTimeInterval(timeout)
        while arrived < parties, condition.wait(until: deadline) {}
    }
}
