/// Logger metadata keys of the database drivers and the migration runner.
package enum DriverLogKey {
    /// `sqlite` or `postgres`.
    package static let dialect = "db.dialect"
    /// The path of a SQLite database file.
    package static let path = "db.path"
    /// The driver's own error message.
    package static let error = "db.error"
    /// How many times a transaction body has run.
    package static let attempt = "db.attempt"
    /// A PostgreSQL notice's primary message and its severity.
    package static let notice = "db.notice"
    package static let noticeSeverity = "db.notice.severity"
    /// SQLite's journal mode when it is not WAL.
    package static let journalMode = "db.journal_mode"
    /// The pool's connection limit.
    package static let maxConnections = "db.max_connections"
    /// One migration's version and file name.
    package static let migrationVersion = "migration.version"
    package static let migrationName = "migration.name"
    /// The migrations a run applied, and the newest version the build knows.
    package static let migrationsApplied = "migrations.applied"
    package static let schemaVersion = "migrations.version"
}
