/// Why an `nkudo` command failed: a kind (which decides the exit status), a one-line
/// message, and what the server said when it answered.
///
/// The description is the line the CLI prints after `error: `; it never carries keys or
/// tokens.
public struct ClientError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, in the categories the exit statuses tell apart.
    public struct Kind: Sendable, Hashable, CustomStringConvertible {
        let name: String
        /// The process exit status of this kind (documented in `nkudo --help` and the README).
        public let exitCode: Int32

        /// The server refused the request (400, 409, 5xx …) or answered something undecodable.
        public static let api = Kind(name: "api", exitCode: 1)
        /// A bad command line, a missing setting, an unreadable or invalid config file.
        public static let usage = Kind(name: "usage", exitCode: 2)
        /// The server cannot be reached, or its TLS identity is not the pinned one.
        public static let connection = Kind(name: "connection", exitCode: 3)
        /// The server refused the credentials (401) or the caller may not do this (403).
        public static let authentication = Kind(name: "authentication", exitCode: 4)
        /// The resource does not exist (404, or no site/VM of that name).
        public static let notFound = Kind(name: "not found", exitCode: 5)
        /// A plan (or an execution) ended FAILED or CANCELLED.
        public static let planFailed = Kind(name: "plan failed", exitCode: 6)
        /// `--wait` ran out of time before the plan was done.
        public static let timedOut = Kind(name: "timed out", exitCode: 7)

        public var description: String { name }
    }

    /// The kind, which decides the exit status.
    public let kind: Kind
    /// The one-line message (the server's own when it answered).
    public let message: String
    /// HTTP status of the server's answer; nil when none was received.
    public let status: Int?
    /// The server's machine-readable error code (`not_found`, `unauthenticated`, …).
    public let code: String?
    /// The request id the server gave the failed request (`X-Request-ID`).
    public let requestID: String?

    /// Creates an error.
    public init(_ kind: Kind, _ message: String, status: Int? = nil, code: String? = nil, requestID: String? = nil) {
        self.kind = kind
        self.message = message
        self.status = status
        self.code = code
        self.requestID = requestID
    }

    /// The kind of a server answer with HTTP status `status`.
    public static func kind(forStatus status: Int) -> Kind {
        switch status {
        case 401, 403: return .authentication
        case 404: return .notFound
        default: return .api
        }
    }

    public var description: String {
        var details: [String] = []
        if let status { details.append("HTTP \(status)" + (code.map { " \($0)" } ?? "")) }
        if let requestID, !requestID.isEmpty { details.append("request \(requestID)") }
        let oneLine = message.split(whereSeparator: \.isNewline).joined(separator: " ")
        return details.isEmpty ? oneLine : "\(oneLine) (\(details.joined(separator: ", ")))"
    }
}
