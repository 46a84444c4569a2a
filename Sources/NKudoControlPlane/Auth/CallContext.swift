public import Logging
public import NKudoStore
import NKudoSQL

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
    /// Whether the client's connection is still open, for calls that wait (a long poll
    /// ends when its client has gone).
    public let isClientConnected: @Sendable () async -> Bool

    /// Creates a call context.
    public init(caller: Caller, requestID: String, logger: Logger, remoteAddress: String?,
                isClientConnected: @escaping @Sendable () async -> Bool = { true }) {
        self.caller = caller
        self.requestID = requestID
        self.logger = logger
        self.remoteAddress = remoteAddress
        self.isClientConnected = isClientConnected
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
    /// An agent presenting a valid, unexpired client certificate of ours whose serial the
    /// operation itself checks against the agent's current one, inside its own transaction
    /// (the heartbeat: one database round trip fewer on the hottest route).
    case agentCertificate(AgentCertificate)
}

/// The agent a client certificate of ours names, and the certificate's serial.
public struct AgentCertificate: Sendable, Hashable {
    /// The agent id (the certificate's CN).
    public let agentID: String
    /// The certificate's serial number, in decimal.
    public let serial: String

    /// Creates the identity.
    public init(agentID: String, serial: String) {
        self.agentID = agentID
        self.serial = serial
    }
}

extension Caller {
    /// The caller's tenant, when it has one (a tenant's key, an agent's record).
    public var tenantID: String? {
        switch self {
        case .tenant(let key): key.tenantID
        case .agent(let agent), .agentWithExpiredCertificate(let agent): agent.tenantID
        case .agentCertificate, .admin, .anonymous: nil
        }
    }
}
