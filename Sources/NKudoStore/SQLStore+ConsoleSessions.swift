public import Foundation
import Logging
public import NKudoSQL

// Sessions of the web console.
extension SQLStore {
    /// How long a session's `last_seen_at` may lag behind its use: a console polling every
    /// few seconds writes once a minute, not on every request.
    static let consoleSessionTouchInterval: TimeInterval = 60

    public func createConsoleSession(_ session: NewConsoleSession, expiredBefore cutoff: Date) async throws(StoreError) {
        let (kind, tenantID, apiKeyID, adminKeyHash): (String, String?, String?, String?) = switch session.owner {
        case .tenant(let apiKeyID, let tenantID): ("TENANT", tenantID, apiKeyID, nil)
        case .admin(let adminKeyHash): ("ADMIN", nil, nil, adminKeyHash)
        }
        try await database.withTransaction { connection throws(StoreError) in
            // Sessions idle since before the cutoff can never be used again.
            _ = try connection.execute(SQLStatement(raw: "DELETE FROM console_sessions WHERE last_seen_at < $1", [.timestamp(cutoff)]))
            let inserted = try connection.query(
                SQLStatement(
                    raw: """
                        INSERT INTO console_sessions (id_hash, kind, tenant_id, api_key_id, admin_key_hash, csrf_token, created_at, last_seen_at)
                        VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
                        ON CONFLICT DO NOTHING
                        RETURNING id_hash
                        """,
                    [
                        .text(session.idHash), .text(kind), .nonBlank(tenantID), .nonBlank(apiKeyID), .nonBlank(adminKeyHash),
                        .text(session.csrfToken), .timestamp(session.createdAt),
                    ]
                )
            )
            guard !inserted.isEmpty else { throw StoreError(.conflict, "console session already exists") }
        }
    }

    public func consoleSession(idHash: String, now: Date, idleSince: Date, createdSince: Date) async throws(StoreError) -> ConsoleSessionRecord? {
        let found = try await database.withConnection { connection throws(StoreError) -> ConsoleSessionRecord? in
            let rows = try connection.query(
                SQLStatement(
                    raw: """
                        SELECT s.id_hash, s.kind, s.admin_key_hash, s.csrf_token, s.created_at, s.last_seen_at,
                               k.id, k.tenant_id, k.name, k.expires_at
                        FROM console_sessions s
                        LEFT JOIN api_keys k ON k.id = s.api_key_id AND k.tenant_id = s.tenant_id
                                            AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > $2)
                        WHERE s.id_hash = $1 AND s.last_seen_at >= $3 AND s.created_at >= $4
                        """,
                    [.text(idHash), .timestamp(now), .timestamp(idleSince), .timestamp(createdSince)]
                )
            )
            guard let row = rows.first else { return nil }
            let principal: ConsoleSessionRecord.Principal
            switch try row.text("kind") {
            case "TENANT":
                // A key revoked or expired since sign-in joins nothing: the session is over.
                guard try row.optionalText("id") != nil else { return nil }
                principal = .tenant(try APIKeyRecord(row: row))
            case "ADMIN":
                principal = .admin(adminKeyHash: try row.text("admin_key_hash"))
            default:
                throw row.unexpected("kind", "TENANT or ADMIN")
            }
            return ConsoleSessionRecord(idHash: try row.text("id_hash"), principal: principal, csrfToken: try row.text("csrf_token"),
                                        createdAt: try row.date("created_at"), lastSeenAt: try row.date("last_seen_at"))
        }
        guard let found else { return nil }
        if now.timeIntervalSince(found.lastSeenAt) >= Self.consoleSessionTouchInterval {
            try await database.withTransaction { connection throws(StoreError) in
                _ = try connection.execute(
                    SQLStatement(raw: "UPDATE console_sessions SET last_seen_at = $2 WHERE id_hash = $1 AND last_seen_at < $2",
                                 [.text(idHash), .timestamp(now)])
                )
            }
        }
        return found
    }

    public func deleteConsoleSession(idHash: String) async throws(StoreError) {
        try await database.withTransaction { connection throws(StoreError) in
            _ = try connection.execute(SQLStatement(raw: "DELETE FROM console_sessions WHERE id_hash = $1", [.text(idHash)]))
        }
    }
}
