/// Logger metadata keys of the database drivers and the migration runner.
package enum DriverLogKey {
    /// `sqlite` or `postgres`.
    package static let dialect = "db_dialect"
    /// The path of a SQLite database file.
    package static let path = "db_path"
    /// The driver's own error message.
    package static let error = "db_error"
    /// How many times a transaction body has run.
    package static let attempt = "db_attempt"
    /// A PostgreSQL notice's primary message and its severity.
    package static let notice = "db_notice"
    package static let noticeSeverity = "db_notice_severity"
    /// The PostgreSQL notification channel listened on.
    package static let channel = "db_channel"
    /// SQLite's journal mode when it is not WAL.
    package static let journalMode = "db_journal_mode"
    /// The pool's connection limit.
    package static let maxConnections = "db_max_connections"
    /// One migration's version and file name.
    package static let migrationVersion = "migration_version"
    package static let migrationName = "migration_name"
    /// The migrations a run applied, and the newest version the build knows.
    package static let migrationsApplied = "migrations_applied"
    package static let schemaVersion = "migrations_version"
}
