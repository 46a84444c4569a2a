import Foundation
import NKudoPKI
import NKudoStore

/// A signed-in console user, found by the session cookie on every request: the caller the
/// services see (exactly as if the API key or admin key had been sent), the session's CSRF
/// token, and how the header names them.
struct ConsoleSession: Sendable {
    /// SHA-256 (hex) of the session id.
    let idHash: String
    /// The caller the services are called as.
    let caller: Caller
    /// The token every POST form of the session must carry.
    let csrfToken: String

    /// Idle time after which a session ends.
    static let idleTimeout: TimeInterval = 12 * 3600
    /// Time after sign-in at which a session ends, used or not.
    static let lifetime: TimeInterval = 24 * 3600

    /// Whether the session is a tenant's.
    var isTenant: Bool {
        if case .tenant = caller { return true }
        return false
    }

    /// How the header names the signed-in user.
    var label: String {
        switch caller {
        case .tenant(let key): "tenant \(key.tenantID.prefix(8)) · key \(key.name)"
        default: "operator (admin)"
        }
    }

    /// The session of a cookie's id: stored, neither idle nor too old, of an API key still
    /// valid or of the admin key in use now (compared in constant time).
    static func find(id: String, store: any Store, adminKeyHash: String, now: Date) async throws -> ConsoleSession? {
        let idHash = Digest.sha256Hex(id)
        guard let record = try await store.consoleSession(idHash: idHash, now: now, idleSince: now.addingTimeInterval(-idleTimeout),
                                                          createdSince: now.addingTimeInterval(-lifetime)) else {
            return nil
        }
        switch record.principal {
        case .tenant(let key):
            return ConsoleSession(idHash: idHash, caller: .tenant(key), csrfToken: record.csrfToken)
        case .admin(let hash):
            guard !adminKeyHash.isEmpty, Digest.constantTimeEquals(Array(hash.utf8), Array(adminKeyHash.utf8)) else { return nil }
            return ConsoleSession(idHash: idHash, caller: .admin, csrfToken: record.csrfToken)
        }
    }
}
