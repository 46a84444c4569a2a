public import Foundation

/// A web console session to store: the SHA-256 of its id (the id itself lives only in
/// the browser's cookie), who it belongs to and its CSRF token.
public struct NewConsoleSession: Sendable, Hashable {
    /// SHA-256 (hex) of the session id.
    public var idHash: String
    /// Whose session it is.
    public var owner: ConsoleSessionOwner
    /// The token every form of the session carries.
    public var csrfToken: String
    /// When the session was opened.
    public var createdAt: Date

    /// Creates the session to store.
    public init(idHash: String, owner: ConsoleSessionOwner, csrfToken: String, createdAt: Date) {
        self.idHash = idHash
        self.owner = owner
        self.csrfToken = csrfToken
        self.createdAt = createdAt
    }
}

/// Who opened a console session.
public enum ConsoleSessionOwner: Sendable, Hashable {
    /// A tenant, signed in with the API key of this id (and tenant).
    case tenant(apiKeyID: String, tenantID: String)
    /// The operator, signed in with the admin key of this SHA-256 (hex).
    case admin(adminKeyHash: String)
}

/// A live console session, as the store finds it.
public struct ConsoleSessionRecord: Sendable, Hashable {
    /// Whose session it is, checked at lookup.
    public enum Principal: Sendable, Hashable {
        /// A tenant: the API key the session was opened with, still neither revoked nor expired.
        case tenant(APIKeyRecord)
        /// The operator: the SHA-256 (hex) of the admin key the session was opened with,
        /// for the caller to compare with the current one.
        case admin(adminKeyHash: String)
    }

    /// SHA-256 (hex) of the session id.
    public var idHash: String
    /// Whose session it is.
    public var principal: Principal
    /// The session's CSRF token.
    public var csrfToken: String
    /// When the session was opened.
    public var createdAt: Date
    /// When the session was last used (updated at most once a minute).
    public var lastSeenAt: Date

    /// Creates the record.
    public init(idHash: String, principal: Principal, csrfToken: String, createdAt: Date, lastSeenAt: Date) {
        self.idHash = idHash
        self.principal = principal
        self.csrfToken = csrfToken
        self.createdAt = createdAt
        self.lastSeenAt = lastSeenAt
    }
}
