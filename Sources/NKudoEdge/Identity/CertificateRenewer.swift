public import Foundation
public import Logging
public import NKudoContract
import NKudoPKI

/// Renews the agent certificate through the RenewCertificate RPC: at about two thirds of
/// its lifetime (jittered) with the current certificate, or with the refresh token after
/// an outage longer than the lifetime. The new identity replaces the old one atomically.
public struct CertificateRenewer: Sendable {
    let store: IdentityStore
    let format: WireFormat
    let logger: Logger

    /// Creates a renewer.
    public init(store: IdentityStore, format: WireFormat, logger: Logger) {
        self.store = store
        self.format = format
        self.logger = logger
    }

    /// When to renew: two thirds into the certificate's lifetime, moved by up to ±`jitter`
    /// of the lifetime (0.05 = 5 %).
    public static func renewalDate(for identity: AgentIdentity, jitter: Double = 0.05,
                                   random: Double = Double.random(in: -1...1)) -> Date {
        let lifetime = identity.certificateExpiresAt.timeIntervalSince(identity.certificateNotBefore)
        return identity.certificateNotBefore.addingTimeInterval(lifetime * (2.0 / 3.0 + jitter * random))
    }

    /// Renews now and saves the new identity.
    ///
    /// - Parameters:
    ///   - identity: The current identity.
    ///   - baseURL: The control plane to ask (default: the identity's).
    ///   - trust: How to verify it (default: the identity's CA).
    ///   - now: The current time (decides between certificate and refresh token).
    ///   - client: The HTTP client to call through (the agent's; by default a new one).
    public func renew(_ identity: AgentIdentity, baseURL: String? = nil, trust: ServerTrust? = nil,
                      now: Date = Date(), client: ControlPlaneHTTPClient = ControlPlaneHTTPClient()) async throws -> AgentIdentity {
        let expired = now >= identity.certificateExpiresAt
        let key = try PrivateKey.generateP256()
        let csr = try CertificateSigningRequest.create(key: key, commonName: identity.agentID)
        let transport = try ControlPlaneTransport(
            baseURL: baseURL ?? identity.controlPlaneURL, format: format,
            trust: trust ?? .certificateAuthority(pem: identity.caCertificatePEM),
            clientIdentity: (identity.certificatePEM, identity.privateKeyPEM), client: client)
        let response = try await AgentServiceClient(transport: transport).renewCertificate(RenewCertificateRequest(
            csrPem: try csr.pem(), refreshToken: expired ? identity.refreshToken : ""))
        let certificate = try Certificate(pem: response.clientCertificatePem)
        guard certificate.matches(key), certificate.commonName == identity.agentID else {
            throw IdentityError(description: "the renewed certificate does not match our key or agent id")
        }
        var renewed = identity
        renewed.certificatePEM = response.clientCertificatePem
        renewed.privateKeyPEM = try key.pkcs8PEM()
        renewed.caCertificatePEM = response.caCertificatePem.isEmpty ? identity.caCertificatePEM : response.caCertificatePem
        renewed.certificateNotBefore = certificate.notBefore
        renewed.certificateExpiresAt = certificate.notAfter
        renewed.refreshToken = response.refreshToken
        renewed.savedAt = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down))
        try store.save(renewed)
        logger.info("renewed the agent certificate", metadata: [EdgeLogKey.expiresAt: .string("\(certificate.notAfter)"), EdgeLogKey.afterExpiry: .stringConvertible(expired)])
        return renewed
    }
}
