import Testing

@testable import NKudoSQL
@testable import NKudoStorePostgres
import SQLTestSupport

/// Migrations of the tests' own, valid in both dialects: the real ones belong to the store.
private let widgets = Migration(
    version: 1,
    name: "0001_widgets.sql",
    sql: "CREATE TABLE widgets (id INTEGER PRIMARY KEY, name TEXT NOT NULL);"
)
private let widgetLog = Migration(
    version: 2,
    name: "0002_widget_log.sql",
    sql: """
        CREATE TABLE widget_log (entry TEXT NOT NULL);
        INSERT INTO widget_log (entry) VALUES ('0002');
        """
)
private let widgetColor = Migration(
    version: 3,
    name: "0003_widget_color.sql",
    sql: """
        ALTER TABLE widgets ADD COLUMN color TEXT;
        INSERT INTO widget_log (entry) VALUES ('0003');
        """
)
private let allMigrations = [widgets, widgetLog, widgetColor]

@Suite("Migration runner")
struct MigrationRunnerTests {
    @Test("migrations apply once, in order, and a second run applies nothing", arguments: testedDialects)
    func appliesOnceInOrder(dialect: SQLDialect) async throws {
        try await withTestDatabase(dialect) { _, database in
            // Out of order on purpose: the runner sorts by version.
            let runner = MigrationRunner(database: database, migrations: [widgetColor, widgets, widgetLog], logger: silentLogger)
            #expect(try await runner.pendingMigrations() == allMigrations)
            #expect(try await runner.migrate() == allMigrations)
            #expect(try await runner.pendingMigrations() == [])
            #expect(try await runner.migrate() == [])

            let recorded = try await database.withConnection { connection throws(StoreError) in
                try connection.query(SQLStatement(raw: "SELECT version, name, applied_at FROM schema_migrations ORDER BY version"))
            }
            #expect(recorded.map { $0["version"] } == [.int(1), .int(2), .int(3)])
            #expect(recorded.map { $0["name"] } == allMigrations.map { .text($0.name) })
            for row in recorded {
                guard case .int(let appliedAt) = row["applied_at"] else {
                    Issue.record("applied_at is \(row["applied_at"])")
                    continue
                }
                #expect(appliedAt > 1_700_000_000_000)
            }
            #expect(try await logEntries(database) == ["0002", "0003"])
        }
    }

    @Test("only the pending migrations apply", arguments: testedDialects)
    func appliesOnlyPending(dialect: SQLDialect) async throws {
        try await withTestDatabase(dialect) { _, database in
            let first = MigrationRunner(database: database, migrations: [widgets], logger: silentLogger)
            let appliedFirst = try await first.migrate()
            #expect(appliedFirst == [widgets])
            let all = MigrationRunner(database: database, migrations: allMigrations, logger: silentLogger)
            let pending = try await all.pendingMigrations()
            #expect(pending == [widgetLog, widgetColor])
            let appliedRest = try await all.migrate()
            #expect(appliedRest == [widgetLog, widgetColor])
            let entries = try await logEntries(database)
            #expect(entries == ["0002", "0003"])
        }
    }

    @Test("a failing migration leaves nothing of itself and stops the run", arguments: testedDialects)
    func failingMigrationRollsBack(dialect: SQLDialect) async throws {
        try await withTestDatabase(dialect) { _, database in
            let broken = Migration(
                version: 2,
                name: "0002_broken.sql",
                sql: """
                    CREATE TABLE half_done (x INTEGER);
                    INSERT INTO no_such_table (x) VALUES (1);
                    """
            )
            let runner = MigrationRunner(database: database, migrations: [widgets, broken, widgetColor], logger: silentLogger)
            let error = await storeError { try await runner.migrate() }
            #expect(error?.code == .database)
            #expect(error?.message.contains("0002_broken.sql") == true)
            let pending = try await runner.pendingMigrations()
            #expect(pending == [broken, widgetColor])
            let halfDone = await storeError {
                try await database.withConnection { connection throws(StoreError) in
                    try connection.query(SQLStatement(raw: "SELECT x FROM half_done"))
                }
            }
            #expect(halfDone != nil)
        }
    }

    @Test("a database newer than the build is reported", arguments: testedDialects)
    func newerSchemaIsReported(dialect: SQLDialect) async throws {
        try await withTestDatabase(dialect) { _, database in
            _ = try await MigrationRunner(database: database, migrations: allMigrations, logger: silentLogger).migrate()
            let older = MigrationRunner(database: database, migrations: [widgets, widgetLog], logger: silentLogger)
            for error in [await storeError { try await older.migrate() }, await storeError { try await older.pendingMigrations() }] {
                #expect(error?.code == .database)
                #expect(error?.message == "schema is newer than this build")
                #expect(error?.underlying?.contains("3") == true)
            }
        }
    }

    @Test("two migrations with one version are refused", arguments: testedDialects)
    func duplicateVersionsAreInvalid(dialect: SQLDialect) async throws {
        try await withTestDatabase(dialect) { _, database in
            let twin = Migration(version: 1, name: "0001_twin.sql", sql: "CREATE TABLE twin (x INTEGER);")
            let runner = MigrationRunner(database: database, migrations: [widgets, twin], logger: silentLogger)
            let error = await storeError { try await runner.migrate() }
            #expect(error?.code == .invalid)
        }
    }

    @Test("runners racing on one database apply each migration once", arguments: testedDialects)
    func racingRunnersApplyEachMigrationOnce(dialect: SQLDialect) async throws {
        try await withTestDatabase(dialect) { storage, _ in
            let databases = try (0..<4).map { _ throws(StoreError) in try storage.open(maxConnections: 2) }
            let applied = try await withThrowingTaskGroup(of: [Migration].self) { group in
                for database in databases {
                    group.addTask {
                        try await MigrationRunner(database: database, migrations: allMigrations, logger: silentLogger).migrate()
                    }
                }
                return try await group.reduce(into: [Migration]()) { $0 += $1 }
            }
            #expect(applied.sorted { $0.version < $1.version } == allMigrations)
            #expect(try await logEntries(databases[0]) == ["0002", "0003"])
            for database in databases {
                await database.close()
            }
        }
    }
}

/// The rows of the test migrations' log table, in order.
private func logEntries(_ database: any SQLDatabase) async throws -> [String] {
    try await database.withConnection { connection throws(StoreError) in
        try connection.query(SQLStatement(raw: "SELECT entry FROM widget_log ORDER BY entry")).compactMap { row in
            guard case .text(let entry) = row["entry"] else { return nil }
            return entry
        }
    }
}
