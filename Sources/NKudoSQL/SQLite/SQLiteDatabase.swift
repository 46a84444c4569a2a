public import Logging
import NIOConcurrencyHelpers

#if canImport(Glibc)
internal import Glibc
#elseif canImport(Darwin)
internal import Darwin
#endif

/// The embedded database: one SQLite file in WAL mode and a bounded pool of connections.
///
/// Every connection runs with `journal_mode=WAL`, `foreign_keys=ON`, the configured
/// `synchronous` (`NORMAL` by default) and a busy timeout. Bodies run on the database's own threads (one
/// per connection), never on the caller's. Transactions start with `BEGIN IMMEDIATE`, so
/// a writer waits for the write lock (up to the busy timeout) at the start instead of
/// failing at its first write. The transactions of this process queue for the write
/// lock on a lock of their own first, woken the moment the one before commits: in SQLite's
/// busy handler they polled with sleeps of 1 ms and longer, and the write lock sat free
/// while they slept (README, Performance).
///
/// Errors: unique and primary-key violations are `.conflict`, foreign-key violations
/// `.notFound`, CHECK and NOT NULL violations `.invalid`, a database still locked after
/// the busy timeout `.unavailable`, anything else `.database`.
public final class SQLiteDatabase: SQLDatabase {
    /// How durable a commit is (SQLite's `synchronous` setting, in WAL mode).
    public enum Synchronous: String, Sendable {
        /// A commit survives a crash of the process; the last ones may be lost with the
        /// machine's power. The default.
        case normal = "NORMAL"
        /// A commit is on disk when it returns (the WAL is synced at every commit).
        case full = "FULL"
    }

    /// Always `.sqlite`.
    public var dialect: SQLDialect { .sqlite }

    private let pool: ConnectionPool<SQLiteConnection>
    private let path: String
    private let busyTimeoutMilliseconds: Int32
    private let synchronous: Synchronous
    private let logger: Logger
    /// Whether a transaction of this process holds (or is taking) the write lock.
    private let writing = ConditionLock(value: false)

    /// Opens the database file at `path`, creating it with mode 0600 when missing (its
    /// directory must exist), and switches it to WAL.
    ///
    /// - Parameters:
    ///   - path: The database file.
    ///   - maxConnections: The most connections open at once (at least 1); more callers wait.
    ///   - busyTimeout: How long a statement waits for a lock another connection holds
    ///     before failing with `.unavailable`.
    ///   - synchronous: How durable a commit is.
    ///   - logger: The logger of the database's events.
    /// - Throws: `.invalid` for a bad argument or a missing directory, `.unavailable` when
    ///   the file cannot be created or opened.
    public init(path: String, maxConnections: Int = 4, busyTimeout: Duration = .seconds(5), synchronous: Synchronous = .normal,
                logger: Logger) throws(StoreError) {
        guard maxConnections >= 1 else {
            throw StoreError(.invalid, "maxConnections must be at least 1")
        }
        guard busyTimeout >= .zero else {
            throw StoreError(.invalid, "busyTimeout must not be negative")
        }
        var logger = logger
        logger[metadataKey: DriverLogKey.dialect] = "\(SQLDialect.sqlite.rawValue)"
        logger[metadataKey: DriverLogKey.path] = "\(path)"
        let milliseconds = busyTimeout.components.seconds * 1000 + busyTimeout.components.attoseconds / 1_000_000_000_000_000
        self.path = path
        self.busyTimeoutMilliseconds = Int32(clamping: milliseconds)
        self.synchronous = synchronous
        self.logger = logger

        try SQLiteDatabaseFile.create(at: path)
        let first = try SQLiteConnection.open(path: path, busyTimeoutMilliseconds: busyTimeoutMilliseconds, synchronous: synchronous)
        let journalMode = try first.journalMode()
        if journalMode != "wal" {
            logger.warning("SQLite database is not in WAL mode", metadata: [DriverLogKey.journalMode: "\(journalMode)"])
        }
        pool = ConnectionPool(maximum: maxConnections, idle: [first])
        logger.debug("SQLite database opened", metadata: [DriverLogKey.maxConnections: "\(maxConnections)"])
    }

    /// The connection pool's counters, for metrics.
    public var poolStatistics: ConnectionPoolStatistics {
        pool.statistics
    }

    public func withConnection<T: Sendable>(
        _ body: @escaping @Sendable (any SQLConnection) throws(StoreError) -> T
    ) async throws(StoreError) -> T {
        try await pool.run { slot in
            Result { () throws(StoreError) -> T in
                let connection = try self.connection(in: slot)
                defer { self.endStrayTransaction(of: connection, in: slot) }
                return try body(connection)
            }
        }
    }

    public func withTransaction<T: Sendable>(
        _ body: @escaping @Sendable (any SQLConnection) throws(StoreError) -> T
    ) async throws(StoreError) -> T {
        try await pool.run { slot in
            Result { () throws(StoreError) -> T in
                let connection = try self.connection(in: slot)
                guard self.writing.lock(whenValue: false, timeoutSeconds: Double(self.busyTimeoutMilliseconds) / 1000) else {
                    throw StoreError(.unavailable, "database is locked", underlying: "another transaction of this process held it too long")
                }
                self.writing.unlock(withValue: true)
                defer {
                    self.writing.lock()
                    self.writing.unlock(withValue: false)
                }
                try connection.executeScript("BEGIN IMMEDIATE")
                do throws(StoreError) {
                    let value = try body(connection)
                    try connection.executeScript("COMMIT")
                    return value
                } catch {
                    self.endStrayTransaction(of: connection, in: slot)
                    throw error
                }
            }
        }
    }

    public func close() async {
        await pool.close()
        logger.debug("SQLite database closed")
    }

    /// nil: one process owns a SQLite database, so it tells itself what changed.
    public func notifications(on channel: String) -> AsyncStream<String?>? {
        nil
    }

    // MARK: Internals

    private func connection(in slot: PoolSlot<SQLiteConnection>) throws(StoreError) -> SQLiteConnection {
        try slot.connection { () throws(StoreError) in
            let connection = try SQLiteConnection.open(path: path, busyTimeoutMilliseconds: busyTimeoutMilliseconds, synchronous: synchronous)
            logger.debug("SQLite connection opened")
            return connection
        }
    }

    /// Rolls back a transaction left open (by a failed body, or a body that began one
    /// itself); a connection that cannot roll back is discarded.
    private func endStrayTransaction(of connection: SQLiteConnection, in slot: PoolSlot<SQLiteConnection>) {
        guard connection.isInTransaction else { return }
        do throws(StoreError) {
            try connection.executeScript("ROLLBACK")
        } catch {
            logger.warning("SQLite rollback failed; closing the connection", metadata: [DriverLogKey.error: "\(error)"])
            slot.discardConnection()
        }
    }
}

/// The SQLite database file itself.
private enum SQLiteDatabaseFile {
    /// Creates the database file with mode 0600 unless it exists.
    static func create(at path: String) throws(StoreError) {
        let descriptor = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if descriptor >= 0 {
            // The mode given to open(2) is reduced by the umask: set it exactly.
            let changed = fchmod(descriptor, 0o600)
            let changeError = errno
            close(descriptor)
            guard changed == 0 else {
                throw StoreError(.unavailable, "cannot set the mode of the SQLite database file", underlying: describe(errno: changeError))
            }
            return
        }
        let openError = errno
        switch openError {
        case EEXIST:
            return
        case ENOENT:
            throw StoreError(.invalid, "the directory of the SQLite database does not exist", underlying: path)
        default:
            throw StoreError(.unavailable, "cannot create the SQLite database file", underlying: describe(errno: openError))
        }
    }

    private static func describe(errno code: Int32) -> String {
        strerror(code).map { String(cString: $0) } ?? "errno \(code)"
    }
}
