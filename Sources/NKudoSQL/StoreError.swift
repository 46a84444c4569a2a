/// Why a store operation failed.
///
/// `description` never contains bound values (they may be secrets).
public struct StoreError: Error, Sendable, Hashable, CustomStringConvertible {
    /// An opaque, stable category.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        let rawValue: String
        public var description: String { rawValue }

        /// A row the operation needs does not exist (or belongs to another tenant).
        public static let notFound = Code(rawValue: "not_found")
        /// A uniqueness rule was violated (duplicate slug, name, idempotency key, …).
        public static let conflict = Code(rawValue: "conflict")
        /// The caller may not do this (e.g. results from an agent that holds no lease).
        public static let forbidden = Code(rawValue: "forbidden")
        /// The caller does not hold the plan's lease (any more): another agent took it over,
        /// its fencing token is stale, or the plan is finished.
        public static let leaseLost = Code(rawValue: "lease_lost")
        /// The request is invalid for the stored state.
        public static let invalid = Code(rawValue: "invalid")
        /// A one-time credential is unknown, used or expired.
        public static let unauthorized = Code(rawValue: "unauthorized")
        /// The database cannot be reached or refused the connection.
        public static let unavailable = Code(rawValue: "unavailable")
        /// The schema is older than this build (run `nkudo-control-plane migrate`).
        public static let schemaBehind = Code(rawValue: "schema_behind")
        /// Any other database failure.
        public static let database = Code(rawValue: "database")
    }

    /// The category.
    public let code: Code
    /// What happened: for client errors (not found, conflict, …) the message the client
    /// gets as it is, so it names no secret and no internal detail.
    public let message: String
    /// Detail for logs only: the driver's own message (e.g. `PQerrorMessage`), or what the
    /// client is not told (e.g. whether an enrollment token was unknown or already used).
    public let underlying: String?

    /// Creates an error.
    public init(_ code: Code, _ message: String, underlying: String? = nil) {
        self.code = code
        self.message = message
        self.underlying = underlying
    }

    public var description: String {
        underlying.map { "\(code): \(message) (\($0))" } ?? "\(code): \(message)"
    }
}
