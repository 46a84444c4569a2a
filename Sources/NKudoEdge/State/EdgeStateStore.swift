public import Foundation
public import Logging
import NKudoSQL

/// The agent's durable local state: an embedded SQLite database, `<directory>/state.sqlite`
/// (WAL), through the project's SQL layer — the action ledger, the VM snapshots, the
/// outbox and a few counters (schema `Migrations/edge/`).
///
/// - Ledger entries, results, snapshots and counters are written with `synchronous=FULL`:
///   on disk when the call returns. Log lines are written with `synchronous=NORMAL`: they
///   survive a crash of the agent (kill -9), the last ones may not survive a power loss.
/// - A log line is one row, appended in its own short transaction, delivered in batches
///   and deleted when the control plane acknowledged it: the cost of a line does not grow
///   with the outbox (`nkudo-state-bench`).
/// - The outbox is bounded (``OutboxLimits``): past the limits the oldest log lines are
///   dropped, counted (``droppedLogLines()``, reported in heartbeats) and logged. Results
///   are never dropped.
/// - Several processes (`run` and `apply`) may use one state directory at once: SQLite
///   locks the file; a writer waits up to the busy timeout.
/// - Blocking I/O runs on the database's own threads, never on the caller's.
/// - The directory is kept at mode 0700, the database files at 0600. The `edge-state.json`
///   of a previous release is imported once on first open and kept as
///   `edge-state.json.migrated`.
public final class EdgeStateStore: Sendable {
    /// The state directory.
    public let directory: String
    /// `<directory>/state.sqlite`.
    public let databasePath: String
    /// The outbox's bounds.
    public let limits: OutboxLimits
    /// Ledger, results, snapshots and counters (`synchronous=FULL`).
    private let durable: SQLiteDatabase
    /// Log lines (`synchronous=NORMAL`).
    private let lines: SQLiteDatabase
    private let logger: Logger

    /// The database's file name in the state directory.
    public static let fileName = "state.sqlite"

    private init(directory: String, limits: OutboxLimits, durable: SQLiteDatabase, lines: SQLiteDatabase, logger: Logger) {
        self.directory = directory
        self.databasePath = directory + "/" + Self.fileName
        self.limits = limits
        self.durable = durable
        self.lines = lines
        self.logger = logger
    }

    /// Opens the state in `directory` (created 0700, or narrowed to it), migrating its
    /// schema and importing a previous release's `edge-state.json` the first time.
    ///
    /// - Throws: ``EdgeStateError`` when the directory or database cannot be prepared, or
    ///   the `edge-state.json` to import is corrupt or of a newer schema (it is then left
    ///   as it is).
    public static func open(directory: String, limits: OutboxLimits = OutboxLimits(), logger: Logger) async throws -> EdgeStateStore {
        try StateFileSystem.ensurePrivateDirectory(directory)
        let path = directory + "/" + fileName
        let store: EdgeStateStore
        do {
            let durable = try SQLiteDatabase(path: path, maxConnections: 1, busyTimeout: .seconds(10), synchronous: .full, logger: logger)
            let lines = try SQLiteDatabase(path: path, maxConnections: 1, busyTimeout: .seconds(10), synchronous: .normal, logger: logger)
            store = EdgeStateStore(directory: directory, limits: limits, durable: durable, lines: lines, logger: logger)
            _ = try await MigrationRunner(database: durable, migrations: EmbeddedMigrations.edge, logger: logger).migrate()
        } catch {
            throw EdgeStateError(.io, "open state database \(path)", underlying: "\(error)")
        }
        try await LegacyStateImport(store: store, directory: directory, logger: logger).run()
        return store
    }

    /// Closes the database connections.
    public func close() async {
        await durable.close()
        await lines.close()
    }

    // MARK: MicroVMs

    /// Replaces every snapshot with `records` (the provider's reconciled view), each with
    /// `updatedAt` kept; writes only when something changed.
    ///
    /// - Throws: ``EdgeStateError/Code/invalidArgument`` for an empty id.
    public func replaceMicroVMs(_ records: [MicroVMRecord]) async throws {
        guard !records.contains(where: { $0.id.isEmpty }) else {
            throw EdgeStateError(.invalidArgument, "vm id required")
        }
        let replacement = Dictionary(records.map { ($0.id, $0) }, uniquingKeysWith: { _, last in last })
        guard try await microVMs() != replacement.values.sorted(by: Self.byID) else { return }
        try await write(durable, "save VM snapshots") { connection throws(StoreError) in
            try connection.execute(SQLStatement(raw: "DELETE FROM microvms"))
            for record in replacement.values {
                try connection.execute(SQLStatement(
                    raw: """
                        INSERT INTO microvms (id, name, kernel_path, rootfs_path, tap_iface, ch_pid, status, updated_at)
                        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                        """,
                    [.text(record.id), .text(record.name), .text(record.kernelPath), .text(record.rootfsPath), .text(record.tapIface),
                     .int(Int64(record.chPID)), .text(record.status), .timestamp(record.updatedAt)]))
            }
        }
    }

    /// The snapshot of one VM, or `nil`.
    public func microVM(id: String) async throws -> MicroVMRecord? {
        try await read("read VM snapshot") { connection throws(StoreError) in
            try connection.query(SQLStatement(raw: "SELECT \(Self.microVMColumns) FROM microvms WHERE id = $1", [.text(id)]))
                .first.map(Self.microVM)
        }
    }

    /// All snapshots sorted by id (byte order).
    public func microVMs() async throws -> [MicroVMRecord] {
        try await read("read VM snapshots") { connection throws(StoreError) in
            try connection.query(SQLStatement(raw: "SELECT \(Self.microVMColumns) FROM microvms")).map(Self.microVM).sorted(by: Self.byID)
        }
    }

    private static let microVMColumns = "id, name, kernel_path, rootfs_path, tap_iface, ch_pid, status, updated_at"

    private static func microVM(_ row: SQLRow) throws(StoreError) -> MicroVMRecord {
        MicroVMRecord(id: try row.text("id"), name: try row.text("name"), kernelPath: try row.text("kernel_path"),
                      rootfsPath: try row.text("rootfs_path"), tapIface: try row.text("tap_iface"), chPID: Int(try row.int64("ch_pid")),
                      status: try row.text("status"), updatedAt: try row.date("updated_at"))
    }

    private static func byID(_ lhs: MicroVMRecord, _ rhs: MicroVMRecord) -> Bool {
        Array(lhs.id.utf8).lexicographicallyPrecedes(rhs.id.utf8)
    }

    // MARK: Action ledger

    /// The ledger entry of an action of a plan, or `nil` when it never started.
    public func ledgerEntry(planID: String, actionID: String) async throws -> LedgerEntry? {
        try await read("read ledger") { connection throws(StoreError) in
            try Self.ledgerEntry(planID: planID, actionID: actionID, on: connection)
        }
    }

    /// Records that an action starts (state `started`, no outcome), replacing any previous
    /// entry of the same plan and action.
    @discardableResult
    public func recordLedgerStarted(planID: String, actionID: String, executionID: String, startedAt: Date = Date()) async throws -> LedgerEntry {
        try Self.validateLedgerKey(planID: planID, actionID: actionID)
        let entry = LedgerEntry(planID: planID, actionID: actionID, state: .started, executionID: executionID, startedAt: startedAt)
        try await write(durable, "record ledger") { connection throws(StoreError) in try Self.save(entry, on: connection) }
        return entry
    }

    /// Records the outcome of an action. The start time of an existing entry is kept;
    /// without one, `finishedAt` is used as start time too.
    @discardableResult
    public func recordLedgerOutcome(planID: String, actionID: String, executionID: String, succeeded: Bool, errorCode: String?,
                                    message: String, finishedAt: Date = Date()) async throws -> LedgerEntry {
        try Self.validateLedgerKey(planID: planID, actionID: actionID)
        return try await write(durable, "record ledger") { connection throws(StoreError) -> LedgerEntry in
            let started = try Self.ledgerEntry(planID: planID, actionID: actionID, on: connection)?.startedAt
            let entry = LedgerEntry(planID: planID, actionID: actionID, state: succeeded ? .succeeded : .failed, executionID: executionID,
                                    errorCode: errorCode.flatMap { $0.isEmpty ? nil : $0 }, message: message,
                                    startedAt: started ?? finishedAt, finishedAt: finishedAt)
            try Self.save(entry, on: connection)
            return entry
        }
    }

    static func save(_ entry: LedgerEntry, on connection: any SQLConnection) throws(StoreError) {
        try connection.execute(SQLStatement(
            raw: """
                INSERT INTO ledger (plan_id, action_id, state, execution_id, error_code, message, started_at, finished_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                ON CONFLICT (plan_id, action_id) DO UPDATE SET
                    state = excluded.state, execution_id = excluded.execution_id, error_code = excluded.error_code,
                    message = excluded.message, started_at = excluded.started_at, finished_at = excluded.finished_at
                """,
            [.text(entry.planID), .text(entry.actionID), .text(entry.state.rawValue), .text(entry.executionID),
             entry.errorCode.map(SQLValue.text) ?? .null, .text(entry.message), .timestamp(entry.startedAt), .timestamp(entry.finishedAt)]))
    }

    private static func ledgerEntry(planID: String, actionID: String, on connection: any SQLConnection) throws(StoreError) -> LedgerEntry? {
        try connection.query(SQLStatement(
            raw: """
                SELECT state, execution_id, error_code, message, started_at, finished_at FROM ledger
                WHERE plan_id = $1 AND action_id = $2
                """,
            [.text(planID), .text(actionID)])
        ).first.map { row throws(StoreError) in
            guard let state = LedgerEntry.State(rawValue: try row.text("state")) else {
                throw StoreError(.database, "unexpected ledger state")
            }
            return LedgerEntry(planID: planID, actionID: actionID, state: state, executionID: try row.text("execution_id"),
                               errorCode: try row.optionalText("error_code"), message: try row.text("message"),
                               startedAt: try row.date("started_at"), finishedAt: try row.optionalDate("finished_at"))
        }
    }

    private static func validateLedgerKey(planID: String, actionID: String) throws {
        guard !planID.isEmpty, !actionID.isEmpty else {
            throw EdgeStateError(.invalidArgument, "plan id and action id required")
        }
    }

    // MARK: Heartbeat sequence

    /// The highest heartbeat sequence number that may have been sent, nil when none was
    /// reserved yet.
    public func heartbeatSequenceCeiling() async throws -> Int64? {
        try await read("read heartbeat sequence") { connection throws(StoreError) in
            try Self.counter(.heartbeatSequenceCeiling, on: connection)
        }
    }

    /// Records that numbers up to `ceiling` may be sent; never lowers the stored ceiling.
    public func reserveHeartbeatSequence(upTo ceiling: Int64) async throws {
        _ = try await write(durable, "reserve heartbeat sequence") { connection throws(StoreError) in
            try connection.execute(SQLStatement(
                raw: """
                    INSERT INTO counters (name, value) VALUES ($1, $2)
                    ON CONFLICT (name) DO UPDATE SET value = MAX(value, excluded.value)
                    """,
                [.text(Counter.heartbeatSequenceCeiling.rawValue), .int(ceiling)]))
        }
    }

    // MARK: Outbox

    /// Appends a message to the outbox; it is stored when this returns. A log line past the
    /// outbox's limits drops the oldest log lines (results are never dropped).
    ///
    /// - Returns: The stored entry.
    @discardableResult
    public func enqueue(kind: OutboxKind, payload: String) async throws -> OutboxEntry {
        let now = Date()
        let bytes = payload.utf8.count
        let isLine = kind == .logLine
        let limits = self.limits
        let (position, dropped) = try await write(isLine ? lines : durable, "queue \(kind)") { connection throws(StoreError) -> (Int64, Int) in
            let inserted = try connection.query(SQLStatement(
                raw: "INSERT INTO outbox (kind, payload, bytes, enqueued_at) VALUES ($1, $2, $3, $4) RETURNING position",
                [.text(kind.rawValue), .text(payload), .int(Int64(bytes)), .timestamp(now)]))
            guard let position = try inserted.first?.int64("position") else { throw StoreError(.database, "the outbox insert returned no row") }
            guard isLine else { return (position, 0) }
            let totals = try Self.add(lines: 1, bytes: bytes, on: connection)
            return (position, try Self.enforce(limits, totals: totals, on: connection))
        }
        if dropped > 0 {
            logger.warning("outbox full: dropped the oldest log lines", metadata: [
                EdgeLogKey.dropped: "\(dropped)", EdgeLogKey.maxLines: "\(limits.maxLogLines)", EdgeLogKey.maxBytes: "\(limits.maxLogBytes)",
            ])
        }
        return OutboxEntry(id: String(position), kind: kind, payload: payload, enqueuedAt: Date(unixMicroseconds: now.unixMicroseconds))
    }

    /// Up to `limit` of the oldest pending messages, oldest first; they stay queued until
    /// acknowledged.
    public func peek(limit: Int) async throws -> [OutboxEntry] {
        try await read("read outbox") { connection throws(StoreError) in
            try connection.query(SQLStatement(
                raw: "SELECT position, kind, payload, enqueued_at FROM outbox ORDER BY position LIMIT $1", [.int(Int64(max(0, limit)))])
            ).map { row throws(StoreError) in
                OutboxEntry(id: String(try row.int64("position")), kind: OutboxKind(rawValue: try row.text("kind")),
                            payload: try row.text("payload"), enqueuedAt: try row.date("enqueued_at"))
            }
        }
    }

    /// Number of pending messages.
    public func outboxCount() async throws -> Int {
        try await read("count outbox") { connection throws(StoreError) in
            Int(try connection.query(SQLStatement(raw: "SELECT COUNT(*) AS n FROM outbox")).first?.int64("n") ?? 0)
        }
    }

    /// Removes delivered messages; unknown ids are ignored.
    ///
    /// - Returns: How many messages were removed.
    @discardableResult
    public func acknowledge(ids: some Collection<String>) async throws -> Int {
        let positions = ids.compactMap { Int64($0) }
        guard !positions.isEmpty else { return 0 }
        return try await write(lines, "acknowledge outbox") { connection throws(StoreError) -> Int in
            var removed = 0
            for chunk in stride(from: 0, to: positions.count, by: 500).map({ positions[$0..<min($0 + 500, positions.count)] }) {
                let placeholders = chunk.indices.map { "$\($0 - chunk.startIndex + 1)" }.joined(separator: ", ")
                let rows = try connection.query(SQLStatement(
                    raw: "DELETE FROM outbox WHERE position IN (\(placeholders)) RETURNING kind, bytes", chunk.map(SQLValue.int)))
                var lines = 0
                var bytes = 0
                for row in rows where try row.text("kind") == OutboxKind.logLine.rawValue {
                    lines += 1
                    bytes += Int(try row.int64("bytes"))
                }
                _ = try Self.add(lines: -lines, bytes: -bytes, on: connection)
                removed += rows.count
            }
            return removed
        }
    }

    /// Log lines the outbox dropped (it was full) and no heartbeat has reported yet.
    public func droppedLogLines() async throws -> Int64 {
        try await read("read dropped log lines") { connection throws(StoreError) in
            try Self.counter(.droppedLogLines, on: connection) ?? 0
        }
    }

    /// `count` dropped log lines were reported to the control plane.
    public func reportedDroppedLogLines(_ count: Int64) async throws {
        guard count > 0 else { return }
        _ = try await write(durable, "record dropped log lines reported") { connection throws(StoreError) in
            try connection.execute(SQLStatement(
                raw: "UPDATE counters SET value = MAX(value - $1, 0) WHERE name = $2", [.int(count), .text(Counter.droppedLogLines.rawValue)]))
        }
    }

    /// Keeps the outbox's log lines within `limits`: past either bound, the oldest lines
    /// go until both are below 90 % of it (so that a full outbox does not drop at every
    /// line). Returns how many were dropped.
    private static func enforce(_ limits: OutboxLimits, totals: (lines: Int64, bytes: Int64),
                                on connection: any SQLConnection) throws(StoreError) -> Int {
        var (lines, bytes) = totals
        guard lines > Int64(limits.maxLogLines) || bytes > Int64(limits.maxLogBytes) else { return 0 }
        let targetLines = Int64(limits.maxLogLines) * 9 / 10
        let targetBytes = Int64(limits.maxLogBytes) * 9 / 10
        var dropped = 0
        while lines > targetLines || bytes > targetBytes {
            let excess = max(lines - targetLines, 1)
            let rows = try connection.query(SQLStatement(
                raw: """
                    DELETE FROM outbox WHERE position IN (
                        SELECT position FROM outbox WHERE kind = $1 ORDER BY position LIMIT $2
                    ) RETURNING bytes
                    """,
                [.text(OutboxKind.logLine.rawValue), .int(min(excess, 1000))]))
            guard !rows.isEmpty else { break }
            var freed: Int64 = 0
            for row in rows { freed += try row.int64("bytes") }
            lines -= Int64(rows.count)
            bytes -= freed
            dropped += rows.count
            _ = try add(lines: -rows.count, bytes: -Int(freed), on: connection)
        }
        try increment(.droppedLogLines, by: Int64(dropped), on: connection)
        return dropped
    }

    // MARK: Counters

    /// The names of the counters table.
    enum Counter: String {
        case heartbeatSequenceCeiling = "heartbeat_sequence_ceiling"
        case droppedLogLines = "dropped_log_lines"
        case outboxLogLines = "outbox_log_lines"
        case outboxLogBytes = "outbox_log_bytes"
        case importedLegacyState = "imported_edge_state_json"
    }

    static func counter(_ counter: Counter, on connection: any SQLConnection) throws(StoreError) -> Int64? {
        try connection.query(SQLStatement(raw: "SELECT value FROM counters WHERE name = $1", [.text(counter.rawValue)])).first?.int64("value")
    }

    /// Adds `amount` to `counter` (created at 0) and returns its new value.
    @discardableResult
    static func increment(_ counter: Counter, by amount: Int64, on connection: any SQLConnection) throws(StoreError) -> Int64 {
        let rows = try connection.query(SQLStatement(
            raw: """
                INSERT INTO counters (name, value) VALUES ($1, $2)
                ON CONFLICT (name) DO UPDATE SET value = value + excluded.value RETURNING value
                """,
            [.text(counter.rawValue), .int(amount)]))
        return try rows.first?.int64("value") ?? amount
    }

    /// Adds to the outbox's log line and byte totals; returns the new totals.
    private static func add(lines: Int, bytes: Int, on connection: any SQLConnection) throws(StoreError) -> (lines: Int64, bytes: Int64) {
        (try increment(.outboxLogLines, by: Int64(lines), on: connection), try increment(.outboxLogBytes, by: Int64(bytes), on: connection))
    }

    // MARK: Database access

    /// Runs `body` in a transaction of `database`; a database failure becomes an
    /// ``EdgeStateError`` naming `what`.
    func write<T: Sendable>(_ database: SQLiteDatabase, _ what: String,
                            _ body: @escaping @Sendable (any SQLConnection) throws(StoreError) -> T) async throws -> T {
        do {
            return try await database.withTransaction(body)
        } catch {
            throw EdgeStateError(.io, "\(what) in \(databasePath)", underlying: "\(error)")
        }
    }

    /// The durable database for writes the caller names explicitly (the legacy import).
    func writeDurably<T: Sendable>(_ what: String, _ body: @escaping @Sendable (any SQLConnection) throws(StoreError) -> T) async throws -> T {
        try await write(durable, what, body)
    }

    private func read<T: Sendable>(_ what: String, _ body: @escaping @Sendable (any SQLConnection) throws(StoreError) -> T) async throws -> T {
        do {
            return try await durable.withConnection(body)
        } catch {
            throw EdgeStateError(.io, "\(what) in \(databasePath)", underlying: "\(error)")
        }
    }
}

/// The bounds of the agent's outbox: past either, the oldest log lines are dropped (and
/// counted); results are never dropped and do not count.
public struct OutboxLimits: Sendable, Hashable {
    /// The most log lines kept. Default 100,000.
    public var maxLogLines: Int
    /// The most bytes of log lines kept. Default 64 MiB.
    public var maxLogBytes: Int

    /// The limits; the defaults hold a day of a busy agent's lines.
    public init(maxLogLines: Int = 100_000, maxLogBytes: Int = 64 << 20) {
        self.maxLogLines = max(1, maxLogLines)
        self.maxLogBytes = max(1024, maxLogBytes)
    }
}
