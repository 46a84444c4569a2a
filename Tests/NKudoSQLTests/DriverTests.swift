import Foundation
import Synchronization
import Testing

@testable import NKudoSQL
@testable import NKudoStorePostgres
import SQLTestSupport

/// Behaviour both drivers share, each test run on SQLite and on PostgreSQL.
@Suite("SQL drivers")
struct DriverTests {
    @Test("every SQLValue kind round-trips", arguments: testedDialects)
    func roundTripsEveryValueKind(dialect: SQLDialect) async throws {
        try await withTestDatabase(dialect) { storage, database in
            try await database.withConnection { connection throws(StoreError) in
                try connection.executeScript(
                    storage.pick(
                        sqlite: "CREATE TABLE kinds (id INTEGER PRIMARY KEY, i BIGINT, d DOUBLE PRECISION, t TEXT, b BLOB, f BOOLEAN, n TEXT)",
                        postgres: "CREATE TABLE kinds (id INTEGER PRIMARY KEY, i BIGINT, d DOUBLE PRECISION, t TEXT, b BYTEA, f BOOLEAN, n TEXT)"
                    )
                )
            }
            let samples: [(id: Int64, int: Int64, double: Double, text: String, blob: [UInt8], bool: Bool)] = [
                (1, .max, 3.25, "héllo ✓ 'quoted' $1 \\x00", [0, 1, 0x7F, 0x80, 0xFF], true),
                (2, .min, -1e-300, "", [], false),
                (3, 0, .infinity, "line\nbreak", Array(0...255), true),
            ]
            for sample in samples {
                let inserted = try await database.withConnection { connection throws(StoreError) in
                    try connection.execute(
                        SQLStatement(
                            raw: "INSERT INTO kinds (id, i, d, t, b, f, n) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                            [.int(sample.id), .int(sample.int), .double(sample.double), .text(sample.text), .blob(sample.blob), .bool(sample.bool), .null]
                        )
                    )
                }
                #expect(inserted == 1)
            }
            for sample in samples {
                let rows = try await database.withConnection { connection throws(StoreError) in
                    try connection.query(SQLStatement(raw: "SELECT i, d, t, b, f, n FROM kinds WHERE id = $1", [.int(sample.id)]))
                }
                let row = try #require(rows.first)
                #expect(rows.count == 1)
                #expect(row.columns == ["i", "d", "t", "b", "f", "n"])
                #expect(row["i"] == .int(sample.int))
                #expect(row["d"] == .double(sample.double))
                #expect(row["t"] == .text(sample.text))
                #expect(row["b"] == .blob(sample.blob))
                // SQLite has no boolean storage class: booleans are stored and read as 0/1.
                #expect(row["f"] == (dialect == .sqlite ? .int(sample.bool ? 1 : 0) : .bool(sample.bool)))
                #expect(row["n"] == .null)
                #expect(row["missing"] == .null)
            }
        }
    }

    @Test("result columns convert by type", arguments: testedDialects)
    func convertsResultColumnsByType(dialect: SQLDialect) async throws {
        try await withTestDatabase(dialect) { storage, database in
            let row = try await database.withConnection { connection throws(StoreError) in
                try connection.query(
                    SQLStatement(
                        raw: storage.pick(
                            sqlite: "SELECT 7 AS a, 2.5 AS b, 1.5 AS c, 'x' AS d, x'00ff' AS e, NULL AS f, 1 = 1 AS g",
                            postgres: "SELECT 7::int2 AS a, 2.5::numeric AS b, 1.5::float4 AS c, 'x'::varchar AS d, '\\x00ff'::bytea AS e, NULL::int4 AS f, true AS g"
                        )
                    )
                )
            }.first
            #expect(row?.values == [.int(7), .double(2.5), .double(1.5), .text("x"), .blob([0, 0xFF]), .null, dialect == .sqlite ? .int(1) : .bool(true)])
        }
    }

    @Test("placeholders bind by number, in any order, and text that looks like one is left alone", arguments: testedDialects)
    func placeholdersBindByNumber(dialect: SQLDialect) async throws {
        try await withTestDatabase(dialect) { _, database in
            let rows = try await database.withConnection { connection throws(StoreError) in
                try connection.executeScript("CREATE TABLE pairs (a TEXT NOT NULL, b BIGINT NOT NULL)")
                try connection.execute(SQLStatement(raw: "INSERT INTO pairs (b, a) VALUES ($2, $1)", [.text("x"), .int(7)]))
                return try connection.query(
                    SQLStatement(
                        raw: "SELECT a, b, '$1 stays' AS literal FROM pairs WHERE b >= $2 AND a = $1 AND b <= $2 -- $3",
                        [.text("x"), .int(7)]
                    )
                )
            }
            #expect(rows.count == 1)
            #expect(rows.first?["a"] == .text("x"))
            #expect(rows.first?["b"] == .int(7))
            #expect(rows.first?["literal"] == .text("$1 stays"))
        }
    }

    @Test("a statement bound with the wrong number of values fails", arguments: testedDialects)
    func wrongParameterCountFails(dialect: SQLDialect) async throws {
        try await withTestDatabase(dialect) { _, database in
            let error = await storeError {
                try await database.withConnection { connection throws(StoreError) in
                    try connection.query(SQLStatement(raw: "SELECT $1 AS a, $2 AS b", [.int(1)]))
                }
            }
            #expect(error?.code == .database)
        }
    }

    @Test("execute counts the rows it changes", arguments: testedDialects)
    func executeCountsChangedRows(dialect: SQLDialect) async throws {
        try await withTestDatabase(dialect) { _, database in
            let counts = try await database.withConnection { connection throws(StoreError) in
                try connection.executeScript("CREATE TABLE things (id INTEGER PRIMARY KEY, seen BOOLEAN NOT NULL)")
                let inserted = try connection.execute(
                    SQLStatement(raw: "INSERT INTO things (id, seen) VALUES (1, $1), (2, $1), (3, $1)", [.bool(false)])
                )
                let updated = try connection.execute(SQLStatement(raw: "UPDATE things SET seen = $1 WHERE id >= $2", [.bool(true), .int(2)]))
                let created = try connection.execute(SQLStatement(raw: "CREATE TABLE others (id INTEGER)"))
                let selected = try connection.execute(SQLStatement(raw: "SELECT id FROM things"))
                return [inserted, updated, created, selected]
            }
            #expect(counts == [3, 2, 0, 0])
        }
    }

    @Test("queries runs statements in order and returns each one's rows; a failure stops there (PostgreSQL: one round trip in a transaction)",
          arguments: testedDialects)
    func queriesRunInOrder(dialect: SQLDialect) async throws {
        try await withTestDatabase(dialect, maxConnections: 1) { _, database in
            try await database.withConnection { connection throws(StoreError) in
                try connection.executeScript("CREATE TABLE batched (id INTEGER PRIMARY KEY)")
            }
            @Sendable func insert(_ id: Int64) -> SQLStatement { SQLStatement(raw: "INSERT INTO batched (id) VALUES ($1) RETURNING id", [.int(id)]) }
            let all = SQLStatement(raw: "SELECT id FROM batched ORDER BY id")
            let ids: @Sendable ([SQLRow]) -> [SQLValue] = { $0.map { $0["id"] } }
            // The first statements of a transaction (BEGIN goes with them), then more in it.
            let results = try await database.withTransaction { connection throws(StoreError) in
                let first = try connection.queries([insert(1), all, insert(2), all])
                let second = try connection.queries([insert(3), all])
                return (first + second).map(ids)
            }
            #expect(results == [[.int(1)], [.int(1)], [.int(2)], [.int(1), .int(2)], [.int(3)], [.int(1), .int(2), .int(3)]])
            // A failure in a transaction: the error of the failing statement, nothing kept.
            let conflict = await storeError {
                try await database.withTransaction { connection throws(StoreError) in
                    _ = try connection.queries([insert(4), insert(1), insert(5)])
                }
            }
            #expect(conflict?.code == .conflict)
            // Outside a transaction, as one by one: what ran before the failure stays.
            let outside = await storeError {
                try await database.withConnection { connection throws(StoreError) in
                    _ = try connection.queries([insert(6), insert(2), insert(7)])
                }
            }
            #expect(outside?.code == .conflict)
            // The connection is usable afterwards, its statements prepared or not.
            let after = try await database.withTransaction { connection throws(StoreError) in
                try connection.queries([all, insert(8)]).map(ids)
            }
            #expect(after == [[.int(1), .int(2), .int(3), .int(6)], [.int(8)]])
        }
    }

    @Test("executeAtCommit runs its statements last, committed with the transaction or not at all (PostgreSQL: with COMMIT)",
          arguments: testedDialects)
    func executeAtCommitEndsTheTransaction(dialect: SQLDialect) async throws {
        try await withTestDatabase(dialect, maxConnections: 1) { _, database in
            try await database.withConnection { connection throws(StoreError) in
                try connection.executeScript("CREATE TABLE deferred (id INTEGER PRIMARY KEY)")
            }
            @Sendable func insert(_ id: Int64) -> SQLStatement { SQLStatement(raw: "INSERT INTO deferred (id) VALUES ($1)", [.int(id)]) }
            let all = SQLStatement(raw: "SELECT id FROM deferred ORDER BY id")
            @Sendable func ids(_ connection: any SQLConnection) throws(StoreError) -> [Int64] {
                try connection.query(all).map { row throws(StoreError) in try row.int64("id") }
            }
            // After other statements, and as the body's only statements (BEGIN, them, COMMIT).
            try await database.withTransaction { connection throws(StoreError) in
                try connection.execute(insert(1))
                try connection.executeAtCommit([insert(2), insert(3)])
            }
            try await database.withTransaction { connection throws(StoreError) in
                try connection.executeAtCommit([insert(4)])
            }
            #expect(try await database.withConnection(ids) == [1, 2, 3, 4])
            // A failing one fails the transaction: nothing of it is kept, its error is thrown.
            let conflict = await storeError {
                try await database.withTransaction { connection throws(StoreError) in
                    try connection.execute(insert(5))
                    try connection.executeAtCommit([insert(6), insert(1), insert(7)])
                }
            }
            #expect(conflict?.code == .conflict)
            // A body that throws after keeping them: rolled back, they never run.
            let thrown = await storeError {
                try await database.withTransaction { connection throws(StoreError) in
                    try connection.executeAtCommit([insert(8)])
                    throw StoreError(.invalid, "changed its mind")
                }
            }
            #expect(thrown?.code == .invalid)
            #expect(try await database.withConnection(ids) == [1, 2, 3, 4])
            // Statements after them see them: they are sent first, in order.
            let seen = try await database.withTransaction { connection throws(StoreError) in
                try connection.executeAtCommit([insert(9)])
                let afterQuery = try ids(connection)
                try connection.executeAtCommit([insert(10)])
                let afterQueries = try connection.queries([all]).map { rows throws(StoreError) in
                    try rows.map { row throws(StoreError) in try row.int64("id") }
                }
                try connection.executeAtCommit([insert(11)])
                try connection.executeScript("INSERT INTO deferred (id) VALUES (12)")
                return (afterQuery, afterQueries)
            }
            #expect(seen.0 == [1, 2, 3, 4, 9])
            #expect(seen.1 == [[1, 2, 3, 4, 9, 10]])
            // Outside a transaction they run at once.
            try await database.withConnection { connection throws(StoreError) in
                try connection.executeAtCommit([insert(13)])
            }
            #expect(try await database.withConnection(ids) == [1, 2, 3, 4, 9, 10, 11, 12, 13])
        }
    }

    @Test("constraint violations map to store error codes", arguments: testedDialects)
    func constraintViolationsMapToCodes(dialect: SQLDialect) async throws {
        try await withTestDatabase(dialect) { _, database in
            try await database.withConnection { connection throws(StoreError) in
                try connection.executeScript(
                    """
                    CREATE TABLE parents (id INTEGER PRIMARY KEY, slug TEXT NOT NULL UNIQUE, size INTEGER NOT NULL CHECK (size > 0));
                    CREATE TABLE children (id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL REFERENCES parents (id));
                    INSERT INTO parents (id, slug, size) VALUES (1, 'one', 1);
                    """
                )
            }
            func insertParent(_ id: Int64, _ slug: SQLValue, _ size: Int64) async -> StoreError? {
                await storeError {
                    try await database.withConnection { connection throws(StoreError) in
                        try connection.execute(SQLStatement(raw: "INSERT INTO parents (id, slug, size) VALUES ($1, $2, $3)", [.int(id), slug, .int(size)]))
                    }
                }
            }
            #expect(await insertParent(2, .text("one"), 1)?.code == .conflict)
            #expect(await insertParent(1, .text("two"), 1)?.code == .conflict)
            #expect(await insertParent(3, .text("three"), 0)?.code == .invalid)
            #expect(await insertParent(4, .null, 1)?.code == .invalid)
            let foreignKey = await storeError {
                try await database.withTransaction { connection throws(StoreError) in
                    try connection.execute(SQLStatement(raw: "INSERT INTO children (id, parent_id) VALUES ($1, $2)", [.int(1), .int(99)]))
                }
            }
            #expect(foreignKey?.code == .notFound)
            #expect(foreignKey?.underlying != nil)
            if dialect == .postgres {
                let badText = await storeError {
                    try await database.withConnection { connection throws(StoreError) in
                        try connection.query(SQLStatement(raw: "SELECT $1::integer AS n", [.text("not a number")]))
                    }
                }
                #expect(badText?.code == .invalid)
            }
            let count = try await database.withConnection { connection throws(StoreError) in
                try connection.query(SQLStatement(raw: "SELECT COUNT(*) AS n FROM parents"))
            }
            #expect(count.first?["n"] == .int(1))
        }
    }

    @Test("a transaction commits when its body returns and rolls back when it throws", arguments: testedDialects)
    func transactionCommitsOrRollsBack(dialect: SQLDialect) async throws {
        try await withTestDatabase(dialect) { _, database in
            try await database.withConnection { connection throws(StoreError) in try connection.executeScript("CREATE TABLE items (name TEXT PRIMARY KEY)") }
            let thrown = await storeError {
                try await database.withTransaction { connection throws(StoreError) in
                    try connection.execute(SQLStatement(raw: "INSERT INTO items (name) VALUES ($1)", [.text("a")]))
                    throw StoreError(.invalid, "the body gave up")
                }
            }
            #expect(thrown == StoreError(.invalid, "the body gave up"))
            let failed = await storeError {
                try await database.withTransaction { connection throws(StoreError) in
                    try connection.execute(SQLStatement(raw: "INSERT INTO items (name) VALUES ($1)", [.text("b")]))
                    try connection.execute(SQLStatement(raw: "INSERT INTO items (name) VALUES ($1)", [.text("b")]))
                }
            }
            #expect(failed?.code == .conflict)
            let committed = try await database.withTransaction { connection throws(StoreError) in
                try connection.execute(SQLStatement(raw: "INSERT INTO items (name) VALUES ($1)", [.text("c")]))
            }
            #expect(committed == 1)
            let names = try await database.withConnection { connection throws(StoreError) in
                try connection.query(SQLStatement(raw: "SELECT name FROM items ORDER BY name")).map(\.values)
            }
            #expect(names == [[.text("c")]])
        }
    }

    @Test("20 concurrent transactions increment one counter to 20", arguments: testedDialects)
    func concurrentTransactionsIncrementCounter(dialect: SQLDialect) async throws {
        try await withTestDatabase(dialect) { _, database in
            try await database.withConnection { connection throws(StoreError) in
                try connection.executeScript("CREATE TABLE counters (id INTEGER PRIMARY KEY, value BIGINT NOT NULL); INSERT INTO counters VALUES (1, 0)")
            }
            let seen = try await withThrowingTaskGroup(of: SQLValue.self) { group in
                for _ in 0..<20 {
                    group.addTask {
                        try await database.withTransaction { connection throws(StoreError) in
                            try connection.query(SQLStatement(raw: "UPDATE counters SET value = value + 1 WHERE id = $1 RETURNING value", [.int(1)]))
                        }.first?["value"] ?? .null
                    }
                }
                return try await group.reduce(into: [SQLValue]()) { $0.append($1) }
            }
            #expect(Set(seen) == Set((1...20).map { SQLValue.int(Int64($0)) }))
            let final = try await database.withConnection { connection throws(StoreError) in
                try connection.query(SQLStatement(raw: "SELECT value FROM counters WHERE id = 1"))
            }
            #expect(final.first?["value"] == .int(20))
        }
    }

    @Test("the pool never lends more than maxConnections", arguments: testedDialects)
    func poolRespectsItsBound(dialect: SQLDialect) async throws {
        try await withTestDatabase(dialect, maxConnections: 2) { _, database in
            let tracker = ConcurrencyTracker()
            let statistics = try #require(database as? any PoolStatisticsProviding)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<10 {
                    group.addTask {
                        try await database.withConnection { connection throws(StoreError) in
                            tracker.enter(waiting: statistics.currentStatistics.waiting)
                            defer { tracker.leave() }
                            _ = try connection.query(SQLStatement(raw: "SELECT 1 AS one"))
                            usleep(30_000)
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(tracker.completed == 10)
            #expect(tracker.maximumConcurrent <= 2)
            #expect(tracker.maximumWaiting > 0)
            let after = statistics.currentStatistics
            #expect(after.open <= 2)
            #expect(after.inUse == 0)
            #expect(after.waiting == 0)
        }
    }

    @Test("many tasks sharing few connections all finish", .timeLimit(.minutes(1)), arguments: testedDialects)
    func manyTasksDoNotDeadlock(dialect: SQLDialect) async throws {
        try await withTestDatabase(dialect, maxConnections: 3) { _, database in
            try await database.withConnection { connection throws(StoreError) in try connection.executeScript("CREATE TABLE hits (n INTEGER NOT NULL)") }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<200 {
                    group.addTask {
                        if index.isMultiple(of: 2) {
                            _ = try await database.withTransaction { connection throws(StoreError) in
                                try connection.execute(SQLStatement(raw: "INSERT INTO hits (n) VALUES ($1)", [.int(Int64(index))]))
                            }
                        } else {
                            _ = try await database.withConnection { connection throws(StoreError) in
                                try connection.query(SQLStatement(raw: "SELECT COUNT(*) AS n FROM hits"))
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            let count = try await database.withConnection { connection throws(StoreError) in
                try connection.query(SQLStatement(raw: "SELECT COUNT(*) AS n FROM hits"))
            }
            #expect(count.first?["n"] == .int(100))
        }
    }

    @Test("bodies run on the database's threads, not the caller's", arguments: testedDialects)
    func bodiesRunOffTheCallersThread(dialect: SQLDialect) async throws {
        try await withTestDatabase(dialect) { _, database in
            for _ in 0..<5 {
                let caller = currentThreadID()
                let bodyThread = try await database.withConnection { _ in currentThreadID() }
                #expect(bodyThread != caller)
            }
        }
    }

    @Test("a closed database refuses work", arguments: testedDialects)
    func closedDatabaseRefusesWork(dialect: SQLDialect) async throws {
        try await withTestDatabase(dialect) { storage, _ in
            let database = try storage.open(maxConnections: 1)
            _ = try await database.withConnection { connection throws(StoreError) in try connection.query(SQLStatement(raw: "SELECT 1 AS one")) }
            await database.close()
            let error = await storeError {
                try await database.withConnection { _ throws(StoreError) in }
            }
            #expect(error?.code == .unavailable)
        }
    }

    @Test("a database released without close shuts its threads down (no crash, no hang)", arguments: testedDialects)
    func releasedWithoutClose(dialect: SQLDialect) async throws {
        try await withTestDatabase(dialect) { storage, _ in
            var database: (any SQLDatabase)? = try storage.open(maxConnections: 2)
            let rows = try await database?.withConnection { connection throws(StoreError) in
                try connection.query(SQLStatement(raw: "SELECT 1 AS one"))
            }
            #expect(rows?.first?["one"] == .int(1))
            database = nil
        }
    }

    @Test("query and execute take one statement; executeScript several", arguments: testedDialects)
    func oneStatementPerQuery(dialect: SQLDialect) async throws {
        try await withTestDatabase(dialect) { _, database in
            let error = await storeError {
                try await database.withConnection { connection throws(StoreError) in
                    try connection.execute(SQLStatement(raw: "CREATE TABLE a (x INTEGER); CREATE TABLE b (x INTEGER)"))
                }
            }
            #expect(error?.code == .database)
            let rows = try await database.withConnection { connection throws(StoreError) in
                try connection.executeScript("CREATE TABLE a (x INTEGER); CREATE TABLE b (x INTEGER); INSERT INTO b VALUES (1);")
                return try connection.query(SQLStatement(raw: "SELECT x FROM b; "))
            }
            #expect(rows.map(\.values) == [[.int(1)]])
        }
    }

    @Test("a transaction left open by a withConnection body is rolled back", arguments: testedDialects)
    func strayTransactionIsRolledBack(dialect: SQLDialect) async throws {
        try await withTestDatabase(dialect, maxConnections: 1) { _, database in
            try await database.withConnection { connection throws(StoreError) in
                try connection.executeScript("CREATE TABLE items (name TEXT)")
                try connection.executeScript("BEGIN")
                try connection.execute(SQLStatement(raw: "INSERT INTO items (name) VALUES ($1)", [.text("stray")]))
            }
            let rows = try await database.withTransaction { connection throws(StoreError) in
                try connection.query(SQLStatement(raw: "SELECT name FROM items"))
            }
            #expect(rows.isEmpty)
        }
    }
}

/// Pool counters of either database, for the tests.
protocol PoolStatisticsProviding: Sendable {
    var currentStatistics: ConnectionPoolStatistics { get }
}

extension SQLiteDatabase: PoolStatisticsProviding {
    var currentStatistics: ConnectionPoolStatistics { poolStatistics }
}

extension PostgresDatabase: PoolStatisticsProviding {
    var currentStatistics: ConnectionPoolStatistics { poolStatistics }
}

/// Counts bodies running at once.
final class ConcurrencyTracker: Sendable {
    private struct Counts {
        var current = 0
        var maximumConcurrent = 0
        var maximumWaiting = 0
        var completed = 0
    }

    private let counts = Mutex(Counts())

    func enter(waiting: Int) {
        counts.withLock {
            $0.current += 1
            $0.maximumConcurrent = max($0.maximumConcurrent, $0.current)
            $0.maximumWaiting = max($0.maximumWaiting, waiting)
        }
    }

    func leave() {
        counts.withLock {
            $0.current -= 1
            $0.completed += 1
        }
    }

    var maximumConcurrent: Int { counts.withLock { $0.maximumConcurrent } }
    var maximumWaiting: Int { counts.withLock { $0.maximumWaiting } }
    var completed: Int { counts.withLock { $0.completed } }
}

/// The calling thread's identity.
func currentThreadID() -> UInt {
    #if os(Linux)
    UInt(pthread_self())
    #else
    UInt(bitPattern: pthread_self())
    #endif
}
