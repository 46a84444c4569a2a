import Foundation
public import Logging
public import NKudoSQL
import NKudoStorePostgres
import Testing

/// Whether the tests that need a PostgreSQL server run: unless `NKUDO_SKIP_POSTGRES=1`.
public let postgresTestsEnabled = ProcessInfo.processInfo.environment["NKUDO_SKIP_POSTGRES"] != "1"

/// The dialects the driver and migration tests run on.
public let testedDialects: [SQLDialect] = postgresTestsEnabled ? [.sqlite, .postgres] : [.sqlite]

/// A logger that drops everything: test output stays readable.
public let silentLogger = Logger(label: "nkudo.store.tests", factory: { _ in SwiftLogNoOpLogHandler() })

/// The PostgreSQL server of the tests, from `NKUDO_TEST_POSTGRES_URL`. A test that needs it
/// fails when the variable is unset.
public func postgresTestURL() throws -> String {
    guard let url = ProcessInfo.processInfo.environment["NKUDO_TEST_POSTGRES_URL"], !url.isEmpty else {
        throw PostgresNotConfigured()
    }
    return url
}

/// Why a PostgreSQL test case fails without a server.
public struct PostgresNotConfigured: Error, CustomStringConvertible {
    public var description: String {
        """
        NKUDO_TEST_POSTGRES_URL is not set: run `eval "$(scripts/start-postgres)"` (as root) \
        to start PostgreSQL, or set NKUDO_SKIP_POSTGRES=1 to test SQLite only
        """
    }
}

/// `url` with more libpq query parameters.
public func appendingQuery(_ query: String, to url: String) -> String {
    url + (url.contains("?") ? "&" : "?") + query
}

/// Isolated storage for one test: a SQLite file in its own temporary directory, or a
/// PostgreSQL schema of its own (`t_<random>`, the `search_path` of every connection
/// opened through `open`, and their `application_name`, so that a test can find its
/// own backends).
public struct TestStorage: Sendable {
    public let dialect: SQLDialect
    /// The SQLite file, or the PostgreSQL URL of the schema.
    public let location: String
    /// The PostgreSQL schema (and application name); the temporary directory for SQLite.
    public let name: String

    /// A new database on this storage.
    public func open(maxConnections: Int = 4) throws(StoreError) -> any SQLDatabase {
        switch dialect {
        case .sqlite:
            return try SQLiteDatabase(path: location, maxConnections: maxConnections, logger: silentLogger)
        case .postgres:
            return try PostgresDatabase(url: location, maxConnections: maxConnections, logger: silentLogger)
        }
    }

    /// `sqlite` or `postgres` DDL.
    public func pick(sqlite: String, postgres: String) -> String {
        dialect == .sqlite ? sqlite : postgres
    }
}

/// Runs `body` with fresh storage of `dialect` and a database opened on it, then closes
/// the database and removes the storage.
public func withTestDatabase<R>(
    _ dialect: SQLDialect,
    maxConnections: Int = 4,
    _ body: (TestStorage, any SQLDatabase) async throws -> R
) async throws -> R {
    let storage = try await makeStorage(dialect)
    let result: Result<R, any Error>
    do {
        let database = try storage.open(maxConnections: maxConnections)
        do {
            result = .success(try await body(storage, database))
        } catch {
            result = .failure(error)
        }
        await database.close()
    } catch {
        result = .failure(error)
    }
    try await removeStorage(storage)
    return try result.get()
}

private func makeStorage(_ dialect: SQLDialect) async throws -> TestStorage {
    let random = UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
    switch dialect {
    case .sqlite:
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nkudo-store-\(random)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: false)
        return TestStorage(dialect: .sqlite, location: directory.appendingPathComponent("test.sqlite").path, name: directory.path)
    case .postgres:
        let base = try postgresTestURL()
        let schema = "t_\(random)"
        try await withAdminDatabase(base) { admin in
            try await admin.withConnection { connection throws(StoreError) in try connection.executeScript("CREATE SCHEMA \(schema)") }
        }
        let url = appendingQuery("options=-csearch_path%3D\(schema)&application_name=\(schema)", to: base)
        return TestStorage(dialect: .postgres, location: url, name: schema)
    }
}

private func removeStorage(_ storage: TestStorage) async throws {
    switch storage.dialect {
    case .sqlite:
        try FileManager.default.removeItem(atPath: storage.name)
    case .postgres:
        try await withAdminDatabase(try postgresTestURL()) { admin in
            try await admin.withConnection { connection throws(StoreError) in try connection.executeScript("DROP SCHEMA \(storage.name) CASCADE") }
        }
    }
}

/// Runs `body` with a one-connection database on the server's default schema.
public func withAdminDatabase<R>(_ url: String, _ body: (any SQLDatabase) async throws -> R) async throws -> R {
    let admin = try PostgresDatabase(url: url, maxConnections: 1, logger: silentLogger)
    do {
        let result = try await body(admin)
        await admin.close()
        return result
    } catch {
        await admin.close()
        throw error
    }
}

/// The `StoreError` an operation throws, or `nil` when it succeeds.
public func storeError<T>(_ operation: () async throws -> T) async -> StoreError? {
    do {
        _ = try await operation()
        return nil
    } catch let error as StoreError {
        return error
    } catch {
        Issue.record("expected a StoreError, got \(error)")
        return nil
    }
}
