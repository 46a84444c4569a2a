import Foundation
import Logging
import NKudoSQL

/// The one-time import of a previous release's state file, `edge-state.json` (schema 1:
/// ledger, VM snapshots, outbox, heartbeat sequence), into the state database: in one
/// transaction that also records the import, after which the file is renamed
/// `edge-state.json.migrated` (kept for the operator). A crash between the two finds the
/// import recorded and only renames. A file that cannot be read, is not valid state or is
/// of a newer schema stops the agent and is left untouched: nothing is lost.
struct LegacyStateImport {
    let store: EdgeStateStore
    let directory: String
    let logger: Logger

    /// The file of the previous release.
    static let fileName = "edge-state.json"
    /// The `schema_version` of the file this build imports.
    static let schemaVersion = 1

    func run() async throws {
        let path = directory + "/" + Self.fileName
        guard let bytes = try StateFileSystem.readFile(path) else { return }
        let imported = try await store.writeDurably("import \(Self.fileName)") { connection throws(StoreError) -> Bool in
            try EdgeStateStore.counter(.importedLegacyState, on: connection) != nil
        }
        if !imported {
            let document = try bytes.isEmpty ? EdgeStateDocument() : Self.decode(bytes, path: path)
            try await store.writeDurably("import \(Self.fileName)") { connection throws(StoreError) in
                try Self.insert(document, on: connection)
            }
            logger.notice("imported the state of the previous release", metadata: [
                EdgeLogKey.file: "\(path)", EdgeLogKey.ledgerEntries: "\(document.ledger.count)", EdgeLogKey.outboxEntries: "\(document.outbox.count)",
                EdgeLogKey.vms: "\(document.microvms.count)",
            ])
        }
        let migrated = path + ".migrated"
        guard rename(path, migrated) == 0 else {
            throw EdgeStateError(.io, "rename \(path) to \(migrated)", underlying: StateFileSystem.errnoText(errno))
        }
        unlink(directory + "/edge-state.lock")
    }

    private static func insert(_ document: EdgeStateDocument, on connection: any SQLConnection) throws(StoreError) {
        for entry in document.ledger.values {
            try EdgeStateStore.save(entry, on: connection)
        }
        for record in document.microvms.values {
            try connection.execute(SQLStatement(
                raw: """
                    INSERT INTO microvms (id, name, kernel_path, rootfs_path, tap_iface, ch_pid, status, updated_at)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING
                    """,
                [.text(record.id), .text(record.name), .text(record.kernelPath), .text(record.rootfsPath), .text(record.tapIface),
                 .int(Int64(record.chPID)), .text(record.status), .timestamp(record.updatedAt)]))
        }
        var lines = 0
        var bytes = 0
        for entry in document.outbox {
            let size = entry.payload.utf8.count
            try connection.execute(SQLStatement(
                raw: "INSERT INTO outbox (kind, payload, bytes, enqueued_at) VALUES ($1, $2, $3, $4)",
                [.text(entry.kind.rawValue), .text(entry.payload), .int(Int64(size)), .timestamp(entry.enqueuedAt)]))
            if entry.kind == .logLine {
                lines += 1
                bytes += size
            }
        }
        try EdgeStateStore.increment(.outboxLogLines, by: Int64(lines), on: connection)
        try EdgeStateStore.increment(.outboxLogBytes, by: Int64(bytes), on: connection)
        if let ceiling = document.heartbeatSequenceCeiling {
            try EdgeStateStore.increment(.heartbeatSequenceCeiling, by: ceiling, on: connection)
        }
        try EdgeStateStore.increment(.importedLegacyState, by: 1, on: connection)
    }

    static func decode(_ bytes: [UInt8], path: String) throws -> EdgeStateDocument {
        let data = Data(bytes)
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = UTCTimestamp.decodingStrategy
        let version: Int
        do {
            version = try decoder.decode(EdgeStateDocument.Version.self, from: data).schemaVersion
        } catch {
            throw EdgeStateError(.corrupt, "decode state \(path): not a state file with a schema_version; fix or move it away",
                                 underlying: "\(error)")
        }
        guard version == schemaVersion else {
            throw EdgeStateError(.unsupportedSchema, "state \(path) has schema_version \(version); this agent imports \(schemaVersion)")
        }
        do {
            return try decoder.decode(EdgeStateDocument.self, from: data)
        } catch {
            throw EdgeStateError(.corrupt, "decode state \(path): invalid content; fix or move it away", underlying: "\(error)")
        }
    }
}
