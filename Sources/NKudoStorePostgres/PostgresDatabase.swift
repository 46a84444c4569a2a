public import NKudoSQL
internal import CLibPQ
public import Logging
import Synchronization

#if canImport(Glibc)
internal import Glibc
#elseif canImport(Darwin)
internal import Darwin
#endif

/// PostgreSQL through libpq: a bounded pool of connections, opened on first use.
///
/// libpq blocks, so bodies run on the database's own threads (one per connection), never
/// on the caller's executor or an event loop. Statements are sent with `PQexecParams`:
/// parameters and results in text format, `$1 … $n` placeholders native.
///
/// Errors, by SQLSTATE: 23505 is `.conflict`, 23503 `.notFound`, 23514, 23502 and class 22
/// `.invalid`, a lost connection (class 08, 57P01–57P03) `.unavailable`, anything else
/// `.database`. A transaction that fails with a serialization failure or deadlock
/// (40001, 40P01) runs again, up to 3 more times.
///
/// Reconnecting: a connection that is broken is closed, with the idle ones (after a
/// server restart they are all dead), and a body that failed on a lost connection before
/// any of its statements succeeded runs once more on a new connection, so the database
/// carries on across a PostgreSQL restart.
public final class PostgresDatabase: SQLDatabase {
    /// Always `.postgres`.
    public var dialect: SQLDialect { .postgres }

    private let url: String
    private let pool: ConnectionPool<PostgresConnection>
    private let logger: Logger
    /// The listening sessions opened by ``notifications(on:)``, stopped by `close()`.
    private let listeners = Mutex<[PostgresNotificationListener]>([])

    /// A database at `url` (`postgres://user:password@host:port/database?…`, or libpq
    /// `key=value` pairs). Nothing connects yet.
    ///
    /// - Parameters:
    ///   - url: The connection URI; libpq's query parameters (`sslmode`, `options`, …) apply.
    ///   - maxConnections: The most connections open at once (at least 1); more callers wait.
    ///   - logger: The logger of the database's events.
    /// - Throws: `.invalid` when libpq cannot parse `url` or `maxConnections` is below 1.
    public init(url: String, maxConnections: Int = 10, logger: Logger) throws(StoreError) {
        guard maxConnections >= 1 else {
            throw StoreError(.invalid, "maxConnections must be at least 1")
        }
        guard nkudo_pq_conninfo_is_valid(url) != 0 else {
            // libpq's message is not kept: it may quote the URL, password included.
            throw StoreError(.invalid, "malformed PostgreSQL connection URL")
        }
        var logger = logger
        logger[metadataKey: DriverLogKey.dialect] = "\(SQLDialect.postgres.rawValue)"
        self.url = url
        self.logger = logger
        pool = ConnectionPool(maximum: maxConnections)
    }

    /// The connection pool's counters, for metrics.
    public var poolStatistics: ConnectionPoolStatistics {
        pool.statistics
    }

    public func withConnection<T: Sendable>(
        _ body: @escaping @Sendable (any SQLConnection) throws(StoreError) -> T
    ) async throws(StoreError) -> T {
        try await pool.run { slot in self.run(body, inTransaction: false, in: slot) }
    }

    public func withTransaction<T: Sendable>(
        _ body: @escaping @Sendable (any SQLConnection) throws(StoreError) -> T
    ) async throws(StoreError) -> T {
        try await pool.run { slot in self.run(body, inTransaction: true, in: slot) }
    }

    public func close() async {
        for listener in listeners.withLock({ listeners in
            defer { listeners = [] }
            return listeners
        }) {
            await listener.stop()
        }
        await pool.close()
        logger.debug("PostgreSQL database closed")
    }

    /// Opens a session of its own that `LISTEN`s on `channel` (outside the pool's limit).
    public func notifications(on channel: String) -> AsyncStream<String?>? {
        let listener = PostgresNotificationListener(url: url, channel: channel, logger: logger)
        listeners.withLock { $0.append(listener) }
        return listener.notifications
    }

    // MARK: Internals

    /// Runs the body, again when `PostgresRetryStateMachine` says so, on a pool thread.
    private func run<T>(
        _ body: (any SQLConnection) throws(StoreError) -> T,
        inTransaction: Bool,
        in slot: PoolSlot<PostgresConnection>
    ) -> Result<T, StoreError> {
        var retries = PostgresRetryStateMachine(inTransaction: inTransaction)
        while true {
            let connection: PostgresConnection
            do throws(StoreError) {
                connection = try healthyConnection(in: slot)
            } catch {
                return .failure(error)
            }
            connection.beginAttempt()
            let error: StoreError
            do throws(StoreError) {
                let value = try attempt(body, inTransaction: inTransaction, on: connection)
                endStrayTransaction(of: connection, in: slot)
                return .success(value)
            } catch let caught {
                error = caught
            }
            let failure = connection.failure
            let action = retries.attemptFailed(
                failure,
                bodyMayHaveTakenEffect: connection.succeededStatements > 0 || connection.commitSent
            )
            if failure == .connectionLost {
                // After a server restart every idle connection is dead too.
                slot.discardConnection()
                slot.closeIdleConnections()
            } else {
                endStrayTransaction(of: connection, in: slot)
            }
            switch action {
            case .retryOnNewConnection:
                logger.warning(
                    "PostgreSQL connection lost; running the body again on a new connection",
                    metadata: [DriverLogKey.error: "\(error)", DriverLogKey.attempt: "\(retries.attempts)"]
                )
            case .retry:
                logger.debug(
                    "PostgreSQL transaction not serializable; running it again",
                    metadata: [DriverLogKey.error: "\(error)", DriverLogKey.attempt: "\(retries.attempts)"]
                )
                // A short random pause, growing with the attempts, lets the other side of a
                // deadlock finish first.
                usleep(UInt32.random(in: 1_000...5_000) * UInt32(retries.attempts))
            case .fail:
                if failure == .connectionLost {
                    logger.warning("PostgreSQL connection lost", metadata: [DriverLogKey.error: "\(error)"])
                }
                return .failure(error)
            case .failSerializationRetriesExhausted:
                return .failure(
                    StoreError(
                        .database,
                        "the transaction could not be serialized in \(retries.attempts) attempts",
                        underlying: error.underlying
                    )
                )
            }
        }
    }

    /// One run of the body: in a transaction, `BEGIN` … `COMMIT`.
    private func attempt<T>(
        _ body: (any SQLConnection) throws(StoreError) -> T,
        inTransaction: Bool,
        on connection: PostgresConnection
    ) throws(StoreError) -> T {
        guard inTransaction else { return try body(connection) }
        connection.begin()
        let value = try body(connection)
        try connection.commit()
        return value
    }

    /// The slot's connection if libpq still considers it usable, else a new one.
    private func healthyConnection(in slot: PoolSlot<PostgresConnection>) throws(StoreError) -> PostgresConnection {
        if let existing = slot.existingConnection, !existing.isHealthy {
            logger.warning("PostgreSQL connection found broken; opening a new one")
            slot.discardConnection()
            slot.closeIdleConnections()
        }
        return try slot.connection(opening: connect)
    }

    private func connect() throws(StoreError) -> PostgresConnection {
        do throws(StoreError) {
            let connection = try PostgresConnection.connect(url: url, logger: logger)
            logger.debug("PostgreSQL connection opened")
            return connection
        } catch {
            logger.warning("cannot connect to PostgreSQL", metadata: [DriverLogKey.error: "\(error)"])
            throw error
        }
    }

    /// Rolls back a transaction left open (by a failed body, or a body that began one
    /// itself); a connection that cannot roll back is discarded.
    private func endStrayTransaction(of connection: PostgresConnection, in slot: PoolSlot<PostgresConnection>) {
        if !connection.isHealthy || !connection.rollback() {
            slot.discardConnection()
        }
    }
}
