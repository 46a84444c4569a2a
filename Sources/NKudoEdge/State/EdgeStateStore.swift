public import Foundation
public import Logging

/// The agent's durable local state in `<directory>/edge-state.json` (reference §4, with
/// the defects of §11.3 #23 and #26 fixed).
///
/// - Every operation takes an exclusive `flock` on `<directory>/edge-state.lock`,
///   reloads the file, applies its change and writes the whole file back; so several
///   processes (`run` and `apply`) and several instances in one process never lose each
///   other's updates.
/// - Every write is crash-safe: unique temporary file (0600), `fsync`, `rename`,
///   directory `fsync`. The directory is kept at mode 0700.
/// - A missing or empty file is an empty state; an invalid file is an
///   ``EdgeStateError/Code/corrupt`` error and is never overwritten; a newer
///   `schema_version` is refused with ``EdgeStateError/Code/unsupportedSchema``.
/// - The agent's identity is not kept here but in the PKI directory (``IdentityStore``).
///
/// Calls block the calling thread on file I/O and on the lock (held only for the
/// duration of one call).
public final class EdgeStateStore: Sendable {
    /// The `schema_version` this build reads and writes.
    public static let schemaVersion = 1

    /// The state directory.
    public let directory: String
    /// `<directory>/edge-state.json`.
    public let stateFilePath: String
    /// `<directory>/edge-state.lock`.
    public let lockPath: String
    private let logger: Logger

    /// Opens the store: creates `directory` (0700) if needed, removes temporary files a
    /// crashed writer left behind and checks that the state file (if any) is readable.
    ///
    /// - Throws: ``EdgeStateError`` when the directory cannot be prepared or the file is
    ///   corrupt or of a newer schema.
    public init(directory: String, logger: Logger) throws {
        self.directory = directory
        self.stateFilePath = directory + "/edge-state.json"
        self.lockPath = directory + "/edge-state.lock"
        self.logger = logger
        try StateFileSystem.ensurePrivateDirectory(directory)
        let lock = try StateFileLock(path: lockPath)
        StateFileSystem.removeStaleTemporaries(of: "edge-state.json", in: directory)
        _ = try load()
        withExtendedLifetime(lock) {}
    }

    // MARK: MicroVMs

    /// Replaces every snapshot with `records` (the provider's reconciled view), each
    /// with `updatedAt` kept; writes the file only when something changed.
    ///
    /// - Throws: ``EdgeStateError/Code/invalidArgument`` for an empty id.
    public func replaceMicroVMs(_ records: [MicroVMRecord]) throws {
        guard !records.contains(where: { $0.id.isEmpty }) else {
            throw EdgeStateError(.invalidArgument, "vm id required")
        }
        let replacement = Dictionary(records.map { ($0.id, $0) }, uniquingKeysWith: { _, last in last })
        try update { document in
            guard document.microvms != replacement else { return false }
            document.microvms = replacement
            return true
        }
    }

    /// The snapshot of one VM, or `nil`.
    public func microVM(id: String) throws -> MicroVMRecord? {
        try read { $0.microvms[id] }
    }

    /// All snapshots sorted by id (byte order).
    public func microVMs() throws -> [MicroVMRecord] {
        try read { document in
            document.microvms.values.sorted { Array($0.id.utf8).lexicographicallyPrecedes(Array($1.id.utf8)) }
        }
    }

    // MARK: Action ledger

    /// The ledger entry of an action of a plan, or `nil` when it never started.
    public func ledgerEntry(planID: String, actionID: String) throws -> LedgerEntry? {
        try read { $0.ledger[Self.ledgerKey(planID: planID, actionID: actionID)] }
    }

    /// Records that an action starts (state `started`, no outcome), replacing any
    /// previous entry of the same plan and action.
    @discardableResult
    public func recordLedgerStarted(
        planID: String,
        actionID: String,
        executionID: String,
        startedAt: Date = Date()
    ) throws -> LedgerEntry {
        try Self.validateLedgerKey(planID: planID, actionID: actionID)
        let entry = LedgerEntry(
            planID: planID,
            actionID: actionID,
            state: .started,
            executionID: executionID,
            startedAt: startedAt
        )
        try modify { $0.ledger[Self.ledgerKey(planID: planID, actionID: actionID)] = entry }
        return entry
    }

    /// Records the outcome of an action. The start time of an existing entry is kept;
    /// without one, `finishedAt` is used as start time too.
    @discardableResult
    public func recordLedgerOutcome(
        planID: String,
        actionID: String,
        executionID: String,
        succeeded: Bool,
        errorCode: String?,
        message: String,
        finishedAt: Date = Date()
    ) throws -> LedgerEntry {
        try Self.validateLedgerKey(planID: planID, actionID: actionID)
        let key = Self.ledgerKey(planID: planID, actionID: actionID)
        return try modify { document in
            let entry = LedgerEntry(
                planID: planID,
                actionID: actionID,
                state: succeeded ? .succeeded : .failed,
                executionID: executionID,
                errorCode: errorCode.flatMap { $0.isEmpty ? nil : $0 },
                message: message,
                startedAt: document.ledger[key]?.startedAt ?? finishedAt,
                finishedAt: finishedAt
            )
            document.ledger[key] = entry
            return entry
        }
    }

    /// The ledger key `<plan_id>/<action_id>`.
    static func ledgerKey(planID: String, actionID: String) -> String {
        planID + "/" + actionID
    }

    private static func validateLedgerKey(planID: String, actionID: String) throws {
        guard !planID.isEmpty, !actionID.isEmpty else {
            throw EdgeStateError(.invalidArgument, "plan id and action id required")
        }
    }

    // MARK: Heartbeat sequence

    /// The highest heartbeat sequence number that may have been sent, nil when none was
    /// reserved yet.
    public func heartbeatSequenceCeiling() throws -> Int64? {
        try read { $0.heartbeatSequenceCeiling }
    }

    /// Records that numbers up to `ceiling` may be sent; never lowers the stored ceiling.
    public func reserveHeartbeatSequence(upTo ceiling: Int64) throws {
        try update { document in
            guard ceiling > document.heartbeatSequenceCeiling ?? .min else { return false }
            document.heartbeatSequenceCeiling = ceiling
            return true
        }
    }

    // MARK: Outbox

    /// Appends a message to the outbox; it is on disk when this returns.
    ///
    /// - Parameters:
    ///   - kind: What the payload is.
    ///   - payload: The message as canonical JSON text.
    /// - Returns: The stored entry with its new unique id.
    @discardableResult
    public func enqueue(kind: OutboxKind, payload: String) throws -> OutboxEntry {
        try enqueue(kind: kind, payloads: [payload])[0]
    }

    /// Appends several messages of one kind in one write, in order.
    @discardableResult
    public func enqueue(kind: OutboxKind, payloads: [String]) throws -> [OutboxEntry] {
        let now = Date()
        let entries = payloads.map { payload in
            OutboxEntry(id: UUID().uuidString.lowercased(), kind: kind, payload: payload, enqueuedAt: now)
        }
        guard !entries.isEmpty else {
            return []
        }
        try modify { $0.outbox.append(contentsOf: entries) }
        return entries
    }

    /// Up to `limit` of the oldest pending messages, oldest first; they stay queued
    /// until acknowledged.
    public func peek(limit: Int) throws -> [OutboxEntry] {
        try read { Array($0.outbox.prefix(max(0, limit))) }
    }

    /// Number of pending messages.
    public func outboxCount() throws -> Int {
        try read { $0.outbox.count }
    }

    /// Removes delivered messages; unknown ids are ignored.
    ///
    /// - Returns: How many messages were removed.
    @discardableResult
    public func acknowledge(ids: some Collection<String>) throws -> Int {
        let delivered = Set(ids)
        guard !delivered.isEmpty else {
            return 0
        }
        return try modify { document in
            let before = document.outbox.count
            document.outbox.removeAll { delivered.contains($0.id) }
            return before - document.outbox.count
        }
    }

    // MARK: Locked load and save

    private func read<T>(_ body: (EdgeStateDocument) throws -> T) throws -> T {
        let lock = try StateFileLock(path: lockPath)
        defer { withExtendedLifetime(lock) {} }
        return try body(try load())
    }

    private func modify<T>(_ body: (inout EdgeStateDocument) throws -> T) throws -> T {
        var result: T?
        try update { document in
            result = try body(&document)
            return true
        }
        return result!
    }

    /// Loads, applies `body` and writes the file back only when `body` returns true, all
    /// under one hold of the lock.
    private func update(_ body: (inout EdgeStateDocument) throws -> Bool) throws {
        let lock = try StateFileLock(path: lockPath)
        defer { withExtendedLifetime(lock) {} }
        var document = try load()
        guard try body(&document) else { return }
        document.schemaVersion = Self.schemaVersion
        try StateFileSystem.writeAtomically(try Self.encode(document), to: stateFilePath)
    }

    /// Reads and decodes the state file; call only while holding the lock.
    private func load() throws -> EdgeStateDocument {
        guard let bytes = try StateFileSystem.readFile(stateFilePath), !bytes.isEmpty else {
            return EdgeStateDocument()
        }
        return try Self.decode(bytes, path: stateFilePath)
    }

    static func decode(_ bytes: [UInt8], path: String) throws -> EdgeStateDocument {
        let data = Data(bytes)
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let text = try decoder.singleValueContainer().decode(String.self)
            if let date = try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text) {
                return date
            }
            return try Date.ISO8601FormatStyle().parse(text)
        }
        let version: Int
        do {
            version = try decoder.decode(EdgeStateDocument.Version.self, from: data).schemaVersion
        } catch {
            throw EdgeStateError(
                .corrupt,
                "decode state \(path): not a state file with a schema_version; fix or move it away",
                underlying: "\(error)"
            )
        }
        guard version == schemaVersion else {
            throw EdgeStateError(
                .unsupportedSchema,
                "state \(path) has schema_version \(version); this agent reads \(schemaVersion)"
            )
        }
        do {
            return try decoder.decode(EdgeStateDocument.self, from: data)
        } catch {
            throw EdgeStateError(
                .corrupt,
                "decode state \(path): invalid content; fix or move it away",
                underlying: "\(error)"
            )
        }
    }

    static func encode(_ document: EdgeStateDocument) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)))
        }
        do {
            return Array(try encoder.encode(document))
        } catch {
            throw EdgeStateError(.io, "encode state", underlying: "\(error)")
        }
    }
}
