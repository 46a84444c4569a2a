internal import CSQLite

/// One SQLite connection: owns one `sqlite3*` and closes it in `deinit`.
///
/// Every SQLite return code goes through `check(_:_:)`, which drains `sqlite3_errmsg`
/// into a `StoreError` at once.
///
/// `@unchecked Sendable`: the connection is opened with `SQLITE_OPEN_NOMUTEX` (SQLite's
/// multi-thread mode), where a connection may move between threads but must be used by
/// one at a time. The pool guarantees that: it lends a connection to one job at a time,
/// and a job runs on one thread.
final class SQLiteConnection: SQLConnection, @unchecked Sendable {
    private let handle: OpaquePointer
    /// Compiled statements by SQL text, reused: compiling every statement anew was the
    /// largest single cost of a heartbeat on SQLite (README, Performance). Bounded; emptied
    /// when full (statements whose text varies, such as IN lists, come and go).
    private var statements: [String: SQLiteStatement] = [:]
    private static let statementCacheLimit = 256

    /// Adopts an open `sqlite3*`; it is closed when this object goes away.
    init(takingOwnership handle: OpaquePointer) {
        self.handle = handle
    }

    deinit {
        statements.removeAll()
        sqlite3_close_v2(handle)
    }

    /// Opens (creating if needed) the database at `path` and configures the connection:
    /// WAL journal, foreign keys, `synchronous`, extended result codes and a busy timeout
    /// of `busyTimeoutMilliseconds`.
    static func open(path: String, busyTimeoutMilliseconds: Int32, synchronous: SQLiteDatabase.Synchronous) throws(StoreError) -> SQLiteConnection {
        var handle: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE
        let code = sqlite3_open_v2(path, &handle, flags, nil)
        guard let handle else {
            throw StoreError(.unavailable, "cannot open the SQLite database", underlying: "out of memory")
        }
        // Adopted before checking: a failed open still allocates a handle to close.
        let connection = SQLiteConnection(takingOwnership: handle)
        try connection.check(code, "cannot open the SQLite database")
        try connection.check(sqlite3_extended_result_codes(handle, 1), "cannot configure the SQLite connection")
        try connection.check(sqlite3_busy_timeout(handle, busyTimeoutMilliseconds), "cannot configure the SQLite connection")
        try connection.executeScript("PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; PRAGMA synchronous = \(synchronous.rawValue);")
        return connection
    }

    /// The journal mode in force (`wal` unless the file system cannot share memory).
    func journalMode() throws(StoreError) -> String {
        let rows = try query(SQLStatement(raw: "PRAGMA journal_mode"))
        guard case .text(let mode)? = rows.first?.values.first else { return "" }
        return mode
    }

    /// Whether a transaction is open.
    var isInTransaction: Bool {
        sqlite3_get_autocommit(handle) == 0
    }

    // MARK: SQLConnection

    func query(_ statement: SQLStatement) throws(StoreError) -> [SQLRow] {
        let prepared = try prepare(statement)
        defer { prepared.reset() }
        var rows: [SQLRow] = []
        while try prepared.step() {
            rows.append(prepared.row())
        }
        return rows
    }

    @discardableResult
    func execute(_ statement: SQLStatement) throws(StoreError) -> Int {
        let prepared = try prepare(statement)
        defer { prepared.reset() }
        let totalBefore = sqlite3_total_changes64(handle)
        while try prepared.step() {}
        // `sqlite3_changes64` keeps the count of the last INSERT/UPDATE/DELETE: it is this
        // statement's only when the statement changed something.
        guard sqlite3_total_changes64(handle) != totalBefore else { return 0 }
        return Int(sqlite3_changes64(handle))
    }

    func executeScript(_ sql: String) throws(StoreError) {
        try check(sqlite3_exec(handle, sql, nil, nil, nil), "SQL script failed")
    }

    // MARK: Internals

    /// The compiled statement of `statement.sql` (from the cache when it was compiled
    /// before) with the statement's values bound; the caller resets it after use.
    private func prepare(_ statement: SQLStatement) throws(StoreError) -> SQLiteStatement {
        let prepared: SQLiteStatement
        if let cached = statements[statement.sql] {
            prepared = cached
        } else {
            let (code, compiled, remainder) = compile(SQLitePlaceholders.rewrite(statement.sql), persistent: true)
            guard let compiled else {
                try check(code, "cannot prepare the SQL statement")
                throw StoreError(.database, "the SQL text contains no statement")
            }
            try check(code, "cannot prepare the SQL statement")
            try requireNoSecondStatement(in: remainder)
            if statements.count >= Self.statementCacheLimit { statements.removeAll() }
            statements[statement.sql] = compiled
            prepared = compiled
        }
        do throws(StoreError) {
            try prepared.bind(statement.bindings)
        } catch {
            prepared.reset()
            throw error
        }
        return prepared
    }

    private func compile(_ sql: String, persistent: Bool = false) -> (code: Int32, statement: SQLiteStatement?, remainder: String) {
        var compiled: OpaquePointer?
        var remainder = ""
        let flags = persistent ? UInt32(SQLITE_PREPARE_PERSISTENT) : 0
        let code = sql.withCString { text in
            var tail: UnsafePointer<CChar>?
            let code = sqlite3_prepare_v3(handle, text, -1, flags, &compiled, &tail)
            if let tail { remainder = String(cString: tail) }
            return code
        }
        return (code, compiled.map { SQLiteStatement(takingOwnership: $0, connection: self) }, remainder)
    }

    /// `query`/`execute` run exactly one statement; several belong to `executeScript`.
    private func requireNoSecondStatement(in remainder: String) throws(StoreError) {
        guard remainder.contains(where: { !$0.isWhitespace }) else { return }
        let (code, second, _) = compile(remainder)
        if second != nil {
            throw StoreError(.database, "query and execute take one SQL statement; use executeScript for several")
        }
        try check(code, "cannot prepare the SQL statement")
    }

    /// The one checker of SQLite return codes: success passes, anything else becomes a
    /// `StoreError` carrying `sqlite3_errmsg`.
    func check(_ code: Int32, _ message: @autoclosure () -> String) throws(StoreError) {
        switch code {
        case SQLITE_OK, SQLITE_ROW, SQLITE_DONE:
            return
        default:
            throw SQLiteErrorMapping.error(code: code, message: message(), underlying: String(cString: sqlite3_errmsg(handle)))
        }
    }
}

/// SQLite result codes to `StoreError` codes: constraint violations by kind, a lock held
/// past the busy timeout and a file that cannot be opened `.unavailable`, anything else
/// `.database`.
enum SQLiteErrorMapping {
    // Extended result codes are C macros built with `|` and `<<`, which Swift does not import.
    static let constraintCheck = SQLITE_CONSTRAINT | (1 << 8)
    static let constraintForeignKey = SQLITE_CONSTRAINT | (3 << 8)
    static let constraintNotNull = SQLITE_CONSTRAINT | (5 << 8)
    static let constraintPrimaryKey = SQLITE_CONSTRAINT | (6 << 8)
    static let constraintUnique = SQLITE_CONSTRAINT | (8 << 8)

    /// The error of an (extended) result code; `message` says what failed, `underlying` is
    /// SQLite's own message.
    static func error(code: Int32, message: String, underlying: String) -> StoreError {
        switch code {
        case constraintUnique, constraintPrimaryKey:
            return StoreError(.conflict, "unique constraint violated", underlying: underlying)
        case constraintForeignKey:
            return StoreError(.notFound, "referenced row does not exist", underlying: underlying)
        case constraintCheck, constraintNotNull:
            return StoreError(.invalid, "value rejected by a constraint", underlying: underlying)
        default:
            switch code & 0xFF {
            case SQLITE_BUSY, SQLITE_LOCKED:
                return StoreError(.unavailable, "the SQLite database stayed locked past the busy timeout", underlying: underlying)
            case SQLITE_CANTOPEN:
                return StoreError(.unavailable, message, underlying: underlying)
            default:
                return StoreError(.database, message, underlying: underlying)
            }
        }
    }
}
