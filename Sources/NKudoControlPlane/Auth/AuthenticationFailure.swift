/// Credentials that were missing or wrong (401). The responder answers it, counts it
/// against the source's budget and audits it (``AuthFailureGuard``), like every other 401.
public struct AuthenticationFailure: Error, Sendable, Hashable, CustomStringConvertible {
    /// Why, for the client and the audit event (`missing api key`, `agent retired`, …).
    public let reason: String
    /// The tenant the credentials belong to, when the failure reveals it (a superseded
    /// or retired agent's certificate), so that the tenant sees the event.
    public let tenantID: String?

    /// Creates a failure.
    public init(_ reason: String, tenantID: String? = nil) {
        self.reason = reason
        self.tenantID = tenantID
    }

    public var description: String { reason }
}
