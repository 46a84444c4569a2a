import Foundation
import Synchronization
import Testing

@testable import NKudoSQL
@testable import NKudoStorePostgres
import SQLTestSupport

/// SQLite-only driver behaviour: the database file and connection settings.
@Suite("SQLite driver")
struct DriverSQLiteTests {
    @Test("the database file and its WAL are created with mode 0600")
    func fileModeIs0600() async throws {
        try await withTestDatabase(.sqlite) { storage, database in
            try await database.withTransaction { connection throws(StoreError) in
                try connection.executeScript("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1);")
            }
            for path in [storage.location, storage.location + "-wal"] {
                let attributes = try FileManager.default.attributesOfItem(atPath: path)
                #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600, "\(path)")
            }
        }
    }

    @Test("every connection runs in WAL mode with foreign keys and synchronous=NORMAL")
    func connectionSettings() async throws {
        try await withTestDatabase(.sqlite, maxConnections: 3) { _, database in
            let settings = try await withThrowingTaskGroup(of: [SQLValue].self) { group in
                for _ in 0..<3 {
                    group.addTask {
                        try await database.withConnection { connection throws(StoreError) in
                            usleep(50_000)
                            return try ["journal_mode", "foreign_keys", "synchronous"].map { pragma throws(StoreError) in
                                try connection.query(SQLStatement(raw: "PRAGMA \(pragma)")).first?.values.first ?? .null
                            }
                        }
                    }
                }
                return try await group.reduce(into: [[SQLValue]]()) { $0.append($1) }
            }
            #expect(settings.count == 3)
            for values in settings {
                // synchronous: 1 is NORMAL.
                #expect(values == [.text("wal"), .int(1), .int(1)])
            }
        }
    }

    @Test("a missing directory is .invalid")
    func missingDirectoryIsInvalid() {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("nkudo-missing-\(UUID().uuidString)/db.sqlite").path
        #expect(throws: StoreError.self) {
            _ = try SQLiteDatabase(path: path, logger: silentLogger)
        }
        do {
            _ = try SQLiteDatabase(path: path, logger: silentLogger)
        } catch {
            #expect(error.code == .invalid)
        }
    }

    @Test("an existing database file is opened, not replaced")
    func reopensExistingFile() async throws {
        try await withTestDatabase(.sqlite) { storage, database in
            try await database.withConnection { connection throws(StoreError) in
                try connection.executeScript("CREATE TABLE kept (x INTEGER); INSERT INTO kept VALUES (42);")
            }
            let second = try storage.open(maxConnections: 1)
            let rows = try await second.withConnection { connection throws(StoreError) in
                try connection.query(SQLStatement(raw: "SELECT x FROM kept"))
            }
            await second.close()
            #expect(rows.first?["x"] == .int(42))
        }
    }

    @Test("a write lock held past the busy timeout is .unavailable")
    func busyTimeoutIsUnavailable() async throws {
        try await withTestDatabase(.sqlite) { storage, database in
            let impatient = try SQLiteDatabase(path: storage.location, maxConnections: 1, busyTimeout: .milliseconds(50), logger: silentLogger)
            let error = try await transactionError(of: impatient, whileLockedBy: database)
            await impatient.close()
            #expect(error?.code == .unavailable)
        }
    }

    @Test("transactions of one process queue for the write lock: each runs alone, and a wait past the busy timeout is .unavailable")
    func transactionsOfOneProcessQueue() async throws {
        try await withTestDatabase(.sqlite) { storage, _ in
            try await queueForTheWriteLock(
                SQLiteDatabase(path: storage.location, maxConnections: 4, busyTimeout: .seconds(60), logger: silentLogger))
            let impatient = try SQLiteDatabase(path: storage.location, maxConnections: 2, busyTimeout: .milliseconds(50), logger: silentLogger)
            #expect(try await transactionError(of: impatient, whileLockedBy: impatient)?.code == .unavailable)
            // The lock is free again.
            try await impatient.withTransaction { _ throws(StoreError) in }
            await impatient.close()
        }
    }

    private func queueForTheWriteLock(_ database: SQLiteDatabase) async throws {
        try await database.withConnection { connection throws(StoreError) in
            try connection.executeScript("CREATE TABLE counter (id INTEGER PRIMARY KEY, value INTEGER NOT NULL); INSERT INTO counter VALUES (1, 0)")
        }
        let overlap = OverlapRecorder()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<40 {
                group.addTask {
                    try await database.withTransaction { connection throws(StoreError) in
                        overlap.enter()
                        defer { overlap.leave() }
                        let value = try connection.query(SQLStatement(raw: "SELECT value FROM counter WHERE id = 1"))[0].int64("value")
                        try connection.execute(SQLStatement(raw: "UPDATE counter SET value = $1 WHERE id = 1", [.int(value + 1)]))
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(!overlap.overlapped)
        let total = try await database.withConnection { connection throws(StoreError) in
            try connection.query(SQLStatement(raw: "SELECT value FROM counter WHERE id = 1"))[0].int64("value")
        }
        #expect(total == 40)

        await database.close()
    }
}

/// The error of an empty transaction on `waiter` while a transaction on `holder` holds the
/// write lock (until the waiter has given up, at most 60 s); nil when it succeeded.
private func transactionError(of waiter: any SQLDatabase, whileLockedBy holder: any SQLDatabase) async throws -> StoreError? {
    let (started, signal) = AsyncStream<Void>.makeStream()
    let release = DispatchSemaphore(value: 0)
    async let holding: Void = holder.withTransaction { _ throws(StoreError) in
        signal.yield()
        _ = release.wait(timeout: .now() + 60)
    }
    for await _ in started { break }
    let error = await storeError {
        try await waiter.withTransaction { _ throws(StoreError) in }
    }
    release.signal()
    try await holding
    return error
}

/// Whether two transactions ever ran at once.
private final class OverlapRecorder: Sendable {
    private let state = Mutex((inside: 0, overlapped: false))

    var overlapped: Bool { state.withLock { $0.overlapped } }

    func enter() {
        state.withLock { state in
            state.inside += 1
            if state.inside > 1 { state.overlapped = true }
        }
    }

    func leave() {
        state.withLock { $0.inside -= 1 }
    }
}
