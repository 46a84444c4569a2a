/// Why an operation on the local state (`edge-state.json`, `refresh-token`) failed.
///
/// `description` never carries secrets (the refresh token, payloads).
public struct EdgeStateError: Error, Sendable, Hashable, CustomStringConvertible {
    /// An opaque, stable category.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        let rawValue: String
        public var description: String { rawValue }

        /// A file or directory operation failed (permissions, disk full, …).
        public static let io = Code(rawValue: "io")
        /// The state file exists but is not valid state JSON; it is left untouched.
        public static let corrupt = Code(rawValue: "corrupt")
        /// The state file was written by a newer agent (`schema_version` is unknown).
        public static let unsupportedSchema = Code(rawValue: "unsupported_schema")
        /// The caller passed an invalid value (empty id, …).
        public static let invalidArgument = Code(rawValue: "invalid_argument")
        /// A record the operation needs does not exist.
        public static let notFound = Code(rawValue: "not_found")
    }

    /// The category.
    public let code: Code
    /// What happened, including the path concerned.
    public let message: String
    /// The operating system's or decoder's own text, if any.
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
