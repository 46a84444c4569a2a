public import HTTPTypes
public import NKudoContract

/// Establishes who calls an RPC, from the RPC's declared caller class: the admin key,
/// a tenant API key, or the agent's client certificate. Throws ``AuthenticationFailure``
/// when the credentials are missing or wrong (the responder answers 401, counts and
/// audits it).
public protocol CallerAuthenticator: Sendable {
    func authenticate(method: RPCMethod, headers: HTTPFields, peerCertificate: @Sendable () -> [UInt8]?) async throws -> Caller
}
