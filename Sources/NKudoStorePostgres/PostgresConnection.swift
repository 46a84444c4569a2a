import NKudoSQL
internal import CLibPQ
internal import Logging

#if canImport(Glibc)
internal import Glibc
#elseif canImport(Darwin)
internal import Darwin
#endif

/// One PostgreSQL connection: owns one `PGconn*` and closes it (`PQfinish`) in `deinit`.
///
/// Every libpq call that can fail goes through `check(_:)`, which drains the result's
/// SQLSTATE and primary message (or `PQerrorMessage` when libpq returned no result) into
/// a `StoreError` at once, and records what kind of failure it was for the retry logic.
///
/// `@unchecked Sendable`: libpq allows a `PGconn` to move between threads but not to be
/// used by two at once. The pool guarantees that: it lends a connection to one job at a
/// time, and a job runs on one thread.
final class PostgresConnection: SQLConnection, @unchecked Sendable {
    private let handle: OpaquePointer
    private let logger: Logger

    /// The kind of the last failure since `beginAttempt()`, when it matters for retrying.
    private(set) var failure: PostgresFailure?
    /// Statements of the body (`query`, `execute`, `executeScript`) that succeeded since
    /// `beginAttempt()`.
    private(set) var succeededStatements = 0
    /// Whether `COMMIT` was sent since `beginAttempt()` (its outcome may be unknown).
    private(set) var commitSent = false
    /// Server-side prepared statements of this session by SQL text, with the parameter
    /// types they were prepared with: parsing and planning every statement anew was a
    /// large part of the database's time per heartbeat (README, Performance). Bounded;
    /// past the limit statements run unprepared.
    private var prepared: [String: (name: String, types: [Oid])] = [:]
    private static let preparedLimit = 512
    /// A transaction was begun but `BEGIN` not sent yet: it goes out with the first
    /// statement, in the same round trip (libpq pipeline mode). A heartbeat is a handful of
    /// round trips; this saves one on every transaction (README, Performance).
    private var beginPending = false
    /// Statements of the body to send with `COMMIT` (``executeAtCommit(_:)``).
    private var atCommit: [PreparedCall] = []

    /// Adopts a `PGconn*`; it is closed when this object goes away. The server's notices
    /// go to `logger`.
    init(takingOwnership handle: OpaquePointer, logger: Logger) {
        self.handle = handle
        self.logger = logger
        PQsetNoticeReceiver(
            handle,
            { context, result in
                guard let context, let result else { return }
                Unmanaged<PostgresConnection>.fromOpaque(context).takeUnretainedValue().log(notice: result)
            },
            // Unretained: libpq calls the receiver only inside calls on this connection,
            // which this object outlives.
            Unmanaged.passUnretained(self).toOpaque()
        )
    }

    deinit {
        PQfinish(handle)
    }

    /// Connects with a connection URI (or `key=value` string); a `connect_timeout` of 10 s
    /// and the application name `nkudo` apply unless the URI sets them.
    static func connect(url: String, logger: Logger) throws(StoreError) -> PostgresConnection {
        // Keywords are processed in order, the last value winning: the URI's come last.
        let keywords = PostgresCStrings(["connect_timeout", "fallback_application_name", "dbname"])
        let values = PostgresCStrings(["10", "nkudo", url])
        let handle = keywords.withPointers { keywords in
            values.withPointers { values in PQconnectdbParams(keywords, values, 1) }
        }
        guard let handle else {
            throw StoreError(.unavailable, "cannot connect to PostgreSQL", underlying: "out of memory")
        }
        // Adopted before checking: a failed connection still has to be freed.
        let connection = PostgresConnection(takingOwnership: handle, logger: logger)
        guard connection.isHealthy else {
            throw StoreError(.unavailable, "cannot connect to PostgreSQL", underlying: connection.errorMessage)
        }
        return connection
    }

    /// Whether libpq considers the connection usable (a server gone away unnoticed is
    /// found out by the next statement).
    var isHealthy: Bool {
        PQstatus(handle) == CONNECTION_OK && PQpipelineStatus(handle) == PQ_PIPELINE_OFF
    }

    /// Whether a transaction is open (or its state unknown).
    var isInTransaction: Bool {
        PQtransactionStatus(handle) != PQTRANS_IDLE
    }

    /// Forgets the failure and statement counts of the previous attempt.
    func beginAttempt() {
        failure = nil
        succeededStatements = 0
        commitSent = false
        atCommit = []
    }

    // MARK: SQLConnection

    func query(_ statement: SQLStatement) throws(StoreError) -> [SQLRow] {
        let result = try run(statement)
        succeededStatements += 1
        return result.rows()
    }

    @discardableResult
    func execute(_ statement: SQLStatement) throws(StoreError) -> Int {
        let result = try run(statement)
        succeededStatements += 1
        return result.affectedRows
    }

    /// The statements in one round trip (libpq pipeline mode), with a pending `BEGIN` in
    /// front; the first failure is thrown, as if they had run one by one (the statements
    /// after it do not run). Outside a transaction they run one by one: a pipeline would
    /// make them one implicit transaction, and a failure would undo the ones before it.
    func queries(_ statements: [SQLStatement]) throws(StoreError) -> [[SQLRow]] {
        guard beginPending || isInTransaction else { return try queriesOneByOne(statements) }
        var calls: [PreparedCall] = []
        calls.reserveCapacity(statements.count)
        for statement in statements {
            calls.append(try prepare(statement))
        }
        let results = try pipelineAfterPending(calls)
        succeededStatements += results.count
        return results.map { $0.rows() }
    }

    /// Kept for ``commit()``, which sends them in its round trip; outside a transaction
    /// they run at once.
    func executeAtCommit(_ statements: [SQLStatement]) throws(StoreError) {
        guard beginPending || isInTransaction else {
            _ = try queriesOneByOne(statements)
            return
        }
        for statement in statements {
            atCommit.append(try prepare(statement))
        }
    }

    func executeScript(_ sql: String) throws(StoreError) {
        try sendAtCommitStatements()
        try sendPendingBegin()
        try check(PQexec(handle, sql))
        succeededStatements += 1
    }

    // MARK: Transactions

    /// Begins a transaction; `BEGIN` is sent with the first statement. Not counted as a
    /// statement of the body.
    func begin() {
        beginPending = true
    }

    /// `COMMIT`. A transaction aborted by an error the body caught is rolled back and
    /// reported, never committed silently. A transaction that ran no statement was never
    /// sent and has nothing to commit.
    func commit() throws(StoreError) {
        if beginPending && atCommit.isEmpty {
            beginPending = false
            return
        }
        if PQtransactionStatus(handle) == PQTRANS_INERROR {
            throw StoreError(.database, "the transaction was aborted by an earlier error")
        }
        commitSent = true
        let result: PostgresResult
        if atCommit.isEmpty {
            result = try check(PQexec(handle, "COMMIT"))
        } else {
            result = try pipelineAfterPending([Self.commitCall])[0]
        }
        guard result.commandStatus == "COMMIT" else {
            throw StoreError(.database, "the transaction was rolled back", underlying: result.commandStatus)
        }
    }

    /// `ROLLBACK` of an open transaction; `false` when the connection cannot roll back.
    func rollback() -> Bool {
        beginPending = false
        atCommit = []
        guard isInTransaction else { return true }
        do throws(StoreError) {
            try check(PQexec(handle, "ROLLBACK"))
            return !isInTransaction
        } catch {
            return false
        }
    }

    // MARK: Internals

    /// A statement ready to send: its prepared name (nil: sent with its SQL text), with
    /// its parameters as text.
    private struct PreparedCall {
        let name: String?
        let sql: String
        let types: [Oid]
        let values: PostgresCStrings
    }

    /// The statement, prepared once per session (`PQprepare`, then `PQexecPrepared`), with
    /// text parameters and text results; the server infers each parameter's type except
    /// bytea's. A statement seen again with other parameter types runs unprepared
    /// (`PQexecParams`).
    private func run(_ statement: SQLStatement) throws(StoreError) -> PostgresResult {
        let call = try prepare(statement)
        if beginPending || !atCommit.isEmpty {
            return try pipelineAfterPending([call])[0]
        }
        return try check(execute(call))
    }

    /// The statement's parameters as text, and its prepared name, preparing it when this
    /// session has not yet.
    private func prepare(_ statement: SQLStatement) throws(StoreError) -> PreparedCall {
        var types: [Oid] = []
        var texts: [String?] = []
        types.reserveCapacity(statement.bindings.count)
        texts.reserveCapacity(statement.bindings.count)
        for value in statement.bindings {
            let (type, text) = try Self.parameter(value)
            types.append(type)
            texts.append(text)
        }
        // One look-up of the (long) SQL text per call: hashing it is most of this function.
        let known = prepared[statement.sql]
        var name = known.flatMap { $0.types == types ? $0.name : nil }
        if known == nil, prepared.count < Self.preparedLimit {
            let newName = "nkudo_\(prepared.count)"
            try check(PQprepare(handle, newName, statement.sql, Int32(types.count), types))
            prepared[statement.sql] = (newName, types)
            name = newName
        }
        return PreparedCall(name: name, sql: statement.sql, types: types, values: PostgresCStrings(texts))
    }

    /// `COMMIT` as a call of a pipeline.
    private static var commitCall: PreparedCall {
        PreparedCall(name: nil, sql: "COMMIT", types: [], values: PostgresCStrings([]))
    }

    /// `calls` in one round trip, after a pending `BEGIN` and the statements kept for
    /// `COMMIT`; the results of `calls`.
    private func pipelineAfterPending(_ calls: [PreparedCall]) throws(StoreError) -> [PostgresResult] {
        let deferred = atCommit
        atCommit = []
        let begin = beginPending
        beginPending = false
        let results = try pipeline(deferred + calls, begin: begin)
        succeededStatements += deferred.count
        return Array(results.dropFirst(deferred.count))
    }

    /// Sends the statements kept for `COMMIT` (and a pending `BEGIN`) on their own, before
    /// a script, which pipeline mode refuses.
    private func sendAtCommitStatements() throws(StoreError) {
        guard !atCommit.isEmpty else { return }
        _ = try pipelineAfterPending([])
    }

    /// Sends the pending `BEGIN` on its own (before a script, which pipeline mode refuses).
    private func sendPendingBegin() throws(StoreError) {
        guard beginPending else { return }
        beginPending = false
        try check(PQexec(handle, "BEGIN"))
    }

    /// The calls (after `BEGIN` when `begin`) in one round trip: all queued in pipeline
    /// mode, one sync, then their results in order; the first failure is thrown (a failed
    /// `BEGIN` first). A connection that cannot leave pipeline mode is no longer healthy.
    private func pipeline(_ calls: [PreparedCall], begin: Bool) throws(StoreError) -> [PostgresResult] {
        guard PQenterPipelineMode(handle) == 1 else {
            if begin { try check(PQexec(handle, "BEGIN")) }
            var results: [PostgresResult] = []
            for call in calls {
                results.append(try check(execute(call)))
            }
            return results
        }
        let sentBegin = begin && PQsendQueryParams(handle, "BEGIN", 0, nil, nil, nil, nil, 0) == 1
        var sent = 0
        if sentBegin || !begin {
            for call in calls {
                guard send(call) else { break }
                sent += 1
            }
        }
        // libpq refuses to send (e.g. too many parameters) before anything of the statement
        // is queued; what was queued still runs, so that the pipeline ends cleanly.
        let refusal = sent < calls.count ? errorMessage : nil
        let synced = PQpipelineSync(handle) == 1
        // Owned at once: every result is cleared, whichever of them is thrown.
        let beginResult = synced && sentBegin ? nextPipelineResult().map(PostgresResult.init(takingOwnership:)) : nil
        var results: [PostgresResult?] = []
        for _ in 0..<sent {
            results.append(synced ? nextPipelineResult().map(PostgresResult.init(takingOwnership:)) : nil)
        }
        if synced, let sync = PQgetResult(handle) { PQclear(sync) }
        PQexitPipelineMode(handle)
        if let refusal, isHealthy {
            // What ran is rolled back with the body's failure.
            throw StoreError(.database, "the statement could not be sent", underlying: refusal)
        }
        if begin {
            guard let beginResult, beginResult.status == PGRES_COMMAND_OK else {
                try check(beginResult)
                throw StoreError(.database, "BEGIN failed")
            }
        }
        var checked: [PostgresResult] = []
        checked.reserveCapacity(results.count)
        for result in results {
            checked.append(try check(result))
        }
        return checked
    }

    /// Queues the call in the pipeline; false when libpq refused it.
    private func send(_ call: PreparedCall) -> Bool {
        call.values.withPointers { values in
            (call.name.map { PQsendQueryPrepared(handle, $0, Int32(call.types.count), values, nil, nil, 0) }
                ?? PQsendQueryParams(handle, call.sql, Int32(call.types.count), call.types, values, nil, nil, 0)) == 1
        }
    }

    /// The next query's result in a pipeline, its other results (and the null that ends
    /// them) consumed; nil when there is none (the connection failed).
    private func nextPipelineResult() -> OpaquePointer? {
        guard let first = PQgetResult(handle) else { return nil }
        while let extra = PQgetResult(handle) { PQclear(extra) }
        return first
    }

    /// The call run synchronously: prepared by its name, or with its SQL text.
    private func execute(_ call: PreparedCall) -> OpaquePointer? {
        call.values.withPointers { values in
            if let name = call.name {
                PQexecPrepared(handle, name, Int32(call.types.count), values, nil, nil, 0)
            } else {
                PQexecParams(handle, call.sql, Int32(call.types.count), call.types, values, nil, nil, 0)
            }
        }
    }

    /// A value in PostgreSQL's text input format, with its type OID (0: inferred).
    private static func parameter(_ value: SQLValue) throws(StoreError) -> (Oid, String?) {
        switch value {
        case .null:
            return (PostgresType.unspecified, nil)
        case .int(let integer):
            return (PostgresType.unspecified, String(integer))
        case .double(let double):
            // Swift's shortest round-trip form; `inf`, `-inf` and `nan` are valid input too.
            return (PostgresType.unspecified, "\(double)")
        case .bool(let bool):
            return (PostgresType.unspecified, bool ? "true" : "false")
        case .text(let text):
            guard !text.utf8.contains(0) else {
                throw StoreError(.invalid, "PostgreSQL text cannot contain NUL characters")
            }
            return (PostgresType.unspecified, text)
        case .blob(let bytes):
            return (PostgresType.bytea, Self.hexBytea(bytes))
        }
    }

    /// bytea hex input: `\x` followed by two lowercase hex digits per byte.
    private static func hexBytea(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = [UInt8(ascii: "\\"), UInt8(ascii: "x")]
        text.reserveCapacity(2 + bytes.count * 2)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// The one checker of libpq results: a successful result is adopted and returned;
    /// anything else becomes a `StoreError`, its kind recorded in `failure`.
    @discardableResult
    private func check(_ handle: OpaquePointer?) throws(StoreError) -> PostgresResult {
        try check(handle.map(PostgresResult.init(takingOwnership:)))
    }

    /// ``check(_:)-(OpaquePointer?)`` of a result already adopted.
    @discardableResult
    private func check(_ result: PostgresResult?) throws(StoreError) -> PostgresResult {
        guard let result else {
            // libpq could not even produce a result (out of memory, connection gone).
            let error = PostgresErrorMapping.error(sqlState: nil, connectionLost: !isHealthy, underlying: errorMessage)
            record(error.failure)
            throw error.error
        }
        switch result.status {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
            return result
        default:
            let underlying = result.primaryMessage ?? errorMessage
            let error = PostgresErrorMapping.error(
                sqlState: result.sqlState,
                connectionLost: !isHealthy,
                underlying: underlying
            )
            record(error.failure)
            throw error.error
        }
    }

    /// Keeps the gravest failure of the attempt: a statement failing after a
    /// serialization failure (the transaction is aborted) does not hide it.
    private func record(_ kind: PostgresFailure?) {
        guard let kind, failure != .connectionLost else { return }
        failure = kind
    }

    /// Logs a notice or warning the server sent (libpq would print it on stderr): its
    /// primary message only, as DETAIL may quote row values.
    private func log(notice result: OpaquePointer) {
        let severity = nkudo_pq_result_severity(result).map { String(cString: $0) } ?? "NOTICE"
        let message = nkudo_pq_result_primary_message(result).map { String(cString: $0) } ?? ""
        logger.log(
            level: severity == "WARNING" ? .warning : .debug,
            "PostgreSQL notice",
            metadata: [DriverLogKey.noticeSeverity: "\(severity)", DriverLogKey.notice: "\(message)"]
        )
    }

    // MARK: Notifications

    /// Subscribes this session to `channel` (`LISTEN`): its notifications are then read
    /// with ``notifications(waitingUpTo:)``. The channel name is quoted as an identifier.
    func listen(channel: String) throws(StoreError) {
        let quoted = "\"" + channel.split(separator: "\"", omittingEmptySubsequences: false).joined(separator: "\"\"") + "\""
        try executeScript("LISTEN \(quoted)")
    }

    /// Waits up to `milliseconds` for the server to send something, then returns the
    /// payloads of the notifications received (in order, possibly none).
    ///
    /// - Throws: `.unavailable` when the connection is lost.
    func notifications(waitingUpTo milliseconds: Int32) throws(StoreError) -> [String] {
        let socket = PQsocket(handle)
        guard socket >= 0, PQstatus(handle) == CONNECTION_OK else { throw lostConnection() }
        var descriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
        if poll(&descriptor, 1, milliseconds) < 0, errno != EINTR {
            throw lostConnection()
        }
        guard PQconsumeInput(handle) != 0, PQstatus(handle) == CONNECTION_OK else { throw lostConnection() }
        var payloads: [String] = []
        while let notification = PQnotifies(handle) {
            payloads.append(notification.pointee.extra.map { String(cString: $0) } ?? "")
            PQfreemem(notification)
        }
        return payloads
    }

    private func lostConnection() -> StoreError {
        PostgresErrorMapping.error(sqlState: nil, connectionLost: true, underlying: errorMessage).error
    }

    /// `PQerrorMessage`, trimmed.
    private var errorMessage: String {
        let message = PQerrorMessage(handle).map { String(cString: $0) } ?? ""
        return String(message.reversed().drop(while: \.isWhitespace).reversed())
    }
}

/// Failures the databases react to beyond reporting them.
enum PostgresFailure: Sendable, Hashable {
    /// The connection is broken (server restarted, backend terminated, network).
    case connectionLost
    /// Serialization failure or deadlock: the transaction was rolled back and may be retried.
    case serialization
}

/// SQLSTATE to `StoreError` codes.
enum PostgresErrorMapping {
    /// The error of a failed statement and the failure kind the retry logic needs.
    ///
    /// `underlying` is the server's primary message (or libpq's): never the DETAIL
    /// field, which quotes row values.
    static func error(sqlState: String?, connectionLost: Bool, underlying: String) -> (error: StoreError, failure: PostgresFailure?) {
        if connectionLost || sqlState.map(isConnectionFailure) == true {
            return (StoreError(.unavailable, "the PostgreSQL connection was lost", underlying: underlying), .connectionLost)
        }
        switch sqlState {
        case "23505":
            return (StoreError(.conflict, "unique constraint violated", underlying: underlying), nil)
        case "23503":
            return (StoreError(.notFound, "referenced row does not exist", underlying: underlying), nil)
        case "23514", "23502":
            return (StoreError(.invalid, "value rejected by a constraint", underlying: underlying), nil)
        case let state? where state.hasPrefix("22"):
            return (StoreError(.invalid, "invalid value", underlying: underlying), nil)
        case "40001", "40P01":
            return (StoreError(.database, "the transaction could not be serialized", underlying: underlying), .serialization)
        default:
            return (StoreError(.database, "SQL statement failed", underlying: underlying), nil)
        }
    }

    /// Class 08 (connection exception) but 08P01 (`protocol_violation`, e.g. a wrong
    /// number of parameters, on a healthy connection), and the shutdown states of class 57
    /// (`admin_shutdown`, `crash_shutdown`, `cannot_connect_now`).
    private static func isConnectionFailure(_ sqlState: String) -> Bool {
        (sqlState.hasPrefix("08") && sqlState != "08P01") || ["57P01", "57P02", "57P03"].contains(sqlState)
    }
}
