public import Foundation

/// Everything that makes this host an enrolled agent: its ids, its key and certificate,
/// the CA it trusts and the refresh token that renews an expired certificate.
public struct AgentIdentity: Sendable, Codable, Hashable {
    public var tenantID: String
    public var siteID: String
    public var hostID: String
    public var agentID: String
    /// The control plane this identity belongs to.
    public var controlPlaneURL: String
    public var certificatePEM: String
    public var privateKeyPEM: String
    /// The CA that signs agent certificates and the control plane's server certificate.
    public var caCertificatePEM: String
    public var certificateNotBefore: Date
    public var certificateExpiresAt: Date
    /// Renews the certificate after it expired; rotated by every renewal.
    public var refreshToken: String
    public var savedAt: Date

    enum CodingKeys: String, CodingKey {
        case tenantID = "tenant_id", siteID = "site_id", hostID = "host_id", agentID = "agent_id"
        case controlPlaneURL = "control_plane_url", certificatePEM = "client_certificate_pem", privateKeyPEM = "client_key_pem"
        case caCertificatePEM = "ca_certificate_pem", certificateNotBefore = "certificate_not_before"
        case certificateExpiresAt = "certificate_expires_at", refreshToken = "refresh_token", savedAt = "saved_at"
    }
}
