/// The SQL dialects the store runs on.
public enum SQLDialect: String, Sendable, Hashable {
    /// SQLite, the embedded default.
    case sqlite
    /// PostgreSQL through libpq.
    case postgres
}

/// A value bound to a statement parameter or read from a result column.
public enum SQLValue: Sendable, Hashable {
    case null
    case int(Int64)
    case double(Double)
    case text(String)
    case blob([UInt8])
    case bool(Bool)
}

/// One SQL statement with its bound parameters. The SQL text uses `$1, $2, …`
/// placeholders in both dialects (the SQLite driver maps them to `?1, ?2, …`), and
/// values are always bound, never spliced into the text.
public struct SQLStatement: Sendable, Hashable, CustomStringConvertible {
    /// The SQL text with `$n` placeholders.
    public let sql: String
    /// The values of `$1`, `$2`, ….
    public let bindings: [SQLValue]

    /// A statement with bound parameters; `raw` marks the SQL text as trusted code.
    public init(raw sql: String, _ bindings: [SQLValue] = []) {
        self.sql = sql
        self.bindings = bindings
    }

    /// The SQL text only: bound values may be secrets and never appear in logs.
    public var description: String { sql }
}

/// One result row, by column name.
public struct SQLRow: Sendable {
    /// Column names in result order.
    public let columns: [String]
    /// Values in result order.
    public let values: [SQLValue]

    /// Creates a row.
    public init(columns: [String], values: [SQLValue]) {
        self.columns = columns
        self.values = values
    }

    /// The value of a column (`.null` when the row has no such column).
    public subscript(column: String) -> SQLValue {
        guard let index = columns.firstIndex(of: column) else { return .null }
        return values[index]
    }
}

/// A connection lent to a `withConnection`/`withTransaction` body. Its calls block: the
/// database runs bodies on its own threads, never on an event loop.
public protocol SQLConnection {
    /// Runs a statement and returns its rows.
    func query(_ statement: SQLStatement) throws(StoreError) -> [SQLRow]
    /// Runs a statement and returns the number of rows it changed.
    @discardableResult
    func execute(_ statement: SQLStatement) throws(StoreError) -> Int
    /// Runs several `;`-separated statements without parameters (migrations).
    func executeScript(_ sql: String) throws(StoreError)
    /// Runs statements that do not need one another's results, in order, and returns the
    /// rows of each; the first failure is thrown and the statements after it do not run.
    /// PostgreSQL sends them in one round trip (pipeline mode); the default runs them one
    /// by one.
    func queries(_ statements: [SQLStatement]) throws(StoreError) -> [[SQLRow]]
    /// Runs statements whose results nobody needs as the last of the transaction, in
    /// order; a failure of one of them fails the transaction. PostgreSQL sends them with
    /// its `COMMIT`, in one round trip (a statement run after them sends them first); the
    /// default runs them at once. Outside a transaction they run at once.
    func executeAtCommit(_ statements: [SQLStatement]) throws(StoreError)
}

extension SQLConnection {
    public func queries(_ statements: [SQLStatement]) throws(StoreError) -> [[SQLRow]] {
        try queriesOneByOne(statements)
    }

    public func executeAtCommit(_ statements: [SQLStatement]) throws(StoreError) {
        _ = try queriesOneByOne(statements)
    }

    /// ``queries(_:)`` as separate `query` calls, in order: the default, and what a driver
    /// does where it cannot send them together.
    public func queriesOneByOne(_ statements: [SQLStatement]) throws(StoreError) -> [[SQLRow]] {
        var results: [[SQLRow]] = []
        results.reserveCapacity(statements.count)
        for statement in statements {
            results.append(try query(statement))
        }
        return results
    }
}

/// A database: a bounded set of connections of one dialect.
public protocol SQLDatabase: Sendable {
    /// The dialect of the SQL this database speaks.
    var dialect: SQLDialect { get }

    /// Runs `body` with a connection, off the caller's thread.
    func withConnection<T: Sendable>(_ body: @escaping @Sendable (any SQLConnection) throws(StoreError) -> T) async throws(StoreError) -> T

    /// Runs `body` in a transaction (committed when it returns, rolled back when it
    /// throws), off the caller's thread. On SQLite the transaction takes the write lock
    /// up front (`BEGIN IMMEDIATE`).
    func withTransaction<T: Sendable>(_ body: @escaping @Sendable (any SQLConnection) throws(StoreError) -> T) async throws(StoreError) -> T

    /// Connections open, in use and awaited, for metrics.
    var poolStatistics: ConnectionPoolStatistics { get }

    /// Closes every connection; later calls fail.
    func close() async

    /// The payloads of the notifications sent on `channel` by every process sharing this
    /// database (PostgreSQL `NOTIFY`), `nil` standing for "some may have been missed" (the
    /// listening session was opened again); `nil` when the database is one process's
    /// alone (SQLite), which then needs no such channel. The stream ends at `close()`.
    func notifications(on channel: String) -> AsyncStream<String?>?
}
