public import Logging
public import NKudoStore

/// What every service call receives: who is calling, the request id, a logger carrying
/// the request's metadata, and where the call came from.
public struct CallContext: Sendable {
    /// The authenticated caller.
    public let caller: Caller
    /// The request id (from `X-Request-ID` or generated), echoed in the response.
    public let requestID: String
    /// Logger with `request_id` and `route` metadata.
    public let logger: Logger
    /// The client's IP address, when known.
    public let remoteAddress: String?

    /// Creates a call context.
    public init(caller: Caller, requestID: String, logger: Logger, remoteAddress: String?) {
        self.caller = caller
        self.requestID = requestID
        self.logger = logger
        self.remoteAddress = remoteAddress
    }
}

/// Who is calling, as established by the ``CallerAuthenticator``.
public enum Caller: Sendable {
    /// No credentials (health, enrollment, renewal by refresh token).
    case anonymous
    /// The operator (valid `X-Admin-Key`).
    case admin
    /// A tenant (valid `X-API-Key`).
    case tenant(APIKeyRecord)
    /// An enrolled agent presenting its current client certificate.
    case agent(AgentRecord)
    /// An agent presenting an expired certificate of ours that is still its current one:
    /// only certificate renewal with the refresh token accepts it.
    case agentWithExpiredCertificate(AgentRecord)
}
