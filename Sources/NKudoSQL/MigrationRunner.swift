public import Logging

internal import struct Foundation.Date

/// Applies SQL migrations to a database and tells which are pending.
///
/// Applied versions are kept in `schema_migrations(version, name, applied_at)`
/// (`applied_at` in Unix milliseconds). Each migration runs in its own transaction with
/// its version row, so it is applied completely or not at all. Several processes may
/// migrate one PostgreSQL database at once: each migration transaction first takes a
/// transaction-level advisory lock and checks again that the version is still pending
/// (on SQLite, `BEGIN IMMEDIATE` serializes the writers the same way). Migration scripts
/// must therefore not contain `BEGIN`/`COMMIT` themselves.
public struct MigrationRunner: Sendable {
    /// The key of the PostgreSQL advisory lock migrations hold: "nkudomig" in ASCII.
    static let advisoryLockKey: Int64 = 0x6E6B_7564_6F6D_6967

    private let database: any SQLDatabase
    private let migrations: [Migration]
    private let logger: Logger

    /// A runner of `migrations` (in any order; they apply by ascending version) on `database`.
    public init(database: any SQLDatabase, migrations: [Migration], logger: Logger) {
        self.database = database
        self.migrations = migrations.sorted { $0.version < $1.version }
        self.logger = logger
    }

    /// Applies the pending migrations in version order and returns those this call applied
    /// (none when the schema is current, or when another process applied them first).
    ///
    /// - Throws: `.database` "schema is newer than this build" when the database records a
    ///   version this build does not know; `.invalid` when two migrations share a version;
    ///   the failing migration's error, its name in the message, when one fails (the
    ///   migrations before it stay applied).
    public func migrate() async throws(StoreError) -> [Migration] {
        try requireDistinctVersions()
        try await createVersionTable()
        let applied = try await appliedVersions()
        try requireKnown(applied)
        var appliedNow: [Migration] = []
        for migration in migrations where !applied.contains(migration.version) {
            if try await apply(migration) {
                appliedNow.append(migration)
            }
        }
        logger.info(
            appliedNow.isEmpty ? "database schema is current" : "database schema migrated",
            metadata: [
                DriverLogKey.migrationsApplied: "\(appliedNow.map(\.name))",
                DriverLogKey.schemaVersion: "\(migrations.last?.version ?? 0)",
            ]
        )
        return appliedNow
    }

    /// The migrations not applied yet, in version order; all of them on an empty database.
    ///
    /// - Throws: `.database` "schema is newer than this build" when the database records a
    ///   version this build does not know.
    public func pendingMigrations() async throws(StoreError) -> [Migration] {
        try requireDistinctVersions()
        let dialect = database.dialect
        let tableExists = try await database.withConnection { connection throws(StoreError) in
            try !connection.query(Self.versionTableQuery(dialect)).isEmpty
        }
        guard tableExists else { return migrations }
        let applied = try await appliedVersions()
        try requireKnown(applied)
        return migrations.filter { !applied.contains($0.version) }
    }

    // MARK: Internals

    private static let createVersionTableSQL = """
        CREATE TABLE IF NOT EXISTS schema_migrations (
            version INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            applied_at BIGINT NOT NULL
        )
        """

    /// One row when `schema_migrations` exists.
    private static func versionTableQuery(_ dialect: SQLDialect) -> SQLStatement {
        switch dialect {
        case .sqlite:
            return SQLStatement(raw: "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'")
        case .postgres:
            return SQLStatement(raw: "SELECT 1 WHERE to_regclass('schema_migrations') IS NOT NULL")
        }
    }

    /// Takes the migration lock of the transaction (PostgreSQL; SQLite's `BEGIN IMMEDIATE`
    /// already excludes other writers).
    private static func lock(_ connection: any SQLConnection, dialect: SQLDialect) throws(StoreError) {
        guard dialect == .postgres else { return }
        try connection.execute(SQLStatement(raw: "SELECT pg_advisory_xact_lock($1)", [.int(advisoryLockKey)]))
    }

    private func createVersionTable() async throws(StoreError) {
        let dialect = database.dialect
        // Under the lock: concurrent `CREATE TABLE IF NOT EXISTS` can fail on PostgreSQL.
        try await database.withTransaction { connection throws(StoreError) in
            try Self.lock(connection, dialect: dialect)
            try connection.executeScript(Self.createVersionTableSQL)
        }
    }

    private func appliedVersions() async throws(StoreError) -> Set<Int> {
        try await database.withConnection { connection throws(StoreError) in
            var versions = Set<Int>()
            for row in try connection.query(SQLStatement(raw: "SELECT version FROM schema_migrations")) {
                guard case .int(let version) = row["version"] else {
                    throw StoreError(.database, "schema_migrations holds a version that is not an integer")
                }
                versions.insert(Int(version))
            }
            return versions
        }
    }

    /// Runs one migration and records it, unless another process did first; returns
    /// whether this call applied it.
    private func apply(_ migration: Migration) async throws(StoreError) -> Bool {
        let appliedAt = Int64((Date().timeIntervalSince1970 * 1000).rounded())
        do throws(StoreError) {
            let applied: Bool
            if database.dialect == .sqlite && migration.rebuildsReferencedTables {
                applied = try await applyWithoutForeignKeys(migration, appliedAt: appliedAt)
            } else {
                let dialect = database.dialect
                applied = try await database.withTransaction { connection throws(StoreError) -> Bool in
                    try Self.run(migration, on: connection, dialect: dialect, appliedAt: appliedAt)
                }
            }
            if applied {
                logger.info("migration applied", metadata: [DriverLogKey.migrationVersion: "\(migration.version)", DriverLogKey.migrationName: "\(migration.name)"])
            }
            return applied
        } catch {
            logger.error(
                "migration failed",
                metadata: [DriverLogKey.migrationVersion: "\(migration.version)", DriverLogKey.migrationName: "\(migration.name)", DriverLogKey.error: "\(error)"]
            )
            throw StoreError(error.code, "migration \(migration.name) failed: \(error.message)", underlying: error.underlying)
        }
    }

    /// Inside the migration's transaction: takes the lock, runs the script and records the
    /// version unless it is recorded already; returns whether it ran.
    private static func run(
        _ migration: Migration, on connection: any SQLConnection, dialect: SQLDialect, appliedAt: Int64
    ) throws(StoreError) -> Bool {
        try lock(connection, dialect: dialect)
        let recorded = try connection.query(
            SQLStatement(raw: "SELECT 1 FROM schema_migrations WHERE version = $1", [.int(Int64(migration.version))])
        )
        guard recorded.isEmpty else { return false }
        try connection.executeScript(migration.sql)
        try connection.execute(
            SQLStatement(
                raw: "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                [.int(Int64(migration.version)), .text(migration.name), .int(appliedAt)]
            )
        )
        return true
    }

    /// SQLite's way to rebuild a table other tables refer to: foreign keys off (outside
    /// the transaction: SQLite ignores the pragma inside one), the migration's transaction,
    /// `PRAGMA foreign_key_check` clean before the commit, foreign keys on again.
    private func applyWithoutForeignKeys(_ migration: Migration, appliedAt: Int64) async throws(StoreError) -> Bool {
        try await database.withConnection { connection throws(StoreError) -> Bool in
            try connection.executeScript("PRAGMA foreign_keys = OFF")
            defer { try? connection.executeScript("PRAGMA foreign_keys = ON") }
            try connection.executeScript("BEGIN IMMEDIATE")
            do throws(StoreError) {
                let applied = try Self.run(migration, on: connection, dialect: .sqlite, appliedAt: appliedAt)
                let violations = try connection.query(SQLStatement(raw: "PRAGMA foreign_key_check"))
                guard violations.isEmpty else {
                    throw StoreError(.database, "the rebuilt tables leave \(violations.count) rows without their parent row")
                }
                try connection.executeScript("COMMIT")
                return applied
            } catch {
                try? connection.executeScript("ROLLBACK")
                throw error
            }
        }
    }

    private func requireKnown(_ applied: Set<Int>) throws(StoreError) {
        let unknown = applied.subtracting(migrations.map(\.version)).sorted()
        guard unknown.isEmpty else {
            throw StoreError(
                .database,
                "schema is newer than this build",
                underlying: "the database records migration versions this build does not have: \(unknown.map(String.init).joined(separator: ", "))"
            )
        }
    }

    private func requireDistinctVersions() throws(StoreError) {
        for (previous, next) in zip(migrations, migrations.dropFirst()) where previous.version == next.version {
            throw StoreError(.invalid, "migrations \(previous.name) and \(next.name) have the same version")
        }
    }
}
