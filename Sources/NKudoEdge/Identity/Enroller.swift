import Foundation
public import Logging
public import NKudoContract
import NKudoPKI

/// Enrolls this host: a new EC P-256 key and CSR, the enrollment call over TLS that
/// trusts the control plane only through the pinned CA fingerprint or a CA file, and an
/// atomic write of the resulting identity.
public struct Enroller: Sendable {
    /// What enrollment needs.
    public struct Request: Sendable {
        public var controlPlaneURL: String
        public var token: String
        public var hostname: String
        public var trust: ServerTrust
        public var format: WireFormat
        public var agentVersion: String
        public var labels: [String: String]
        public var fingerprint: HostFingerprint?
        /// Replace an existing identity.
        public var force: Bool

        public init(controlPlaneURL: String, token: String, hostname: String, trust: ServerTrust, format: WireFormat = .binary,
                    agentVersion: String, labels: [String: String] = [:], fingerprint: HostFingerprint? = nil, force: Bool = false) {
            self.controlPlaneURL = controlPlaneURL
            self.token = token
            self.hostname = hostname
            self.trust = trust
            self.format = format
            self.agentVersion = agentVersion
            self.labels = labels
            self.fingerprint = fingerprint
            self.force = force
        }
    }

    let store: IdentityStore
    let logger: Logger

    /// Creates an enroller writing into `store`.
    public init(store: IdentityStore, logger: Logger) {
        self.store = store
        self.logger = logger
    }

    /// Enrolls and saves the identity; refuses when already enrolled unless `force`.
    public func enroll(_ request: Request) async throws -> AgentIdentity {
        if !request.force, let existing = try store.load() {
            throw IdentityError(description: "already enrolled as agent \(existing.agentID) with \(existing.controlPlaneURL); use --force to replace it")
        }
        try store.checkWritable()
        if case .insecureSkipVerify = request.trust {
            logger.warning("server certificate verification is DISABLED (--insecure-skip-verify): the enrollment token can be stolen; use it for development only")
        }
        let trust = try await ControlPlaneTransport.resolve(request.trust, baseURL: request.controlPlaneURL)
        let key = try PrivateKey.generateP256()
        // The control plane names the certificate after the agent id and ignores this CN;
        // X.509 caps a CN at 64 characters, and host names may have up to 253.
        let commonName = request.hostname.isEmpty || request.hostname.utf8.count > 64 ? "pending-agent" : request.hostname
        let csr = try CertificateSigningRequest.create(key: key, commonName: commonName)
        let transport = try ControlPlaneTransport(baseURL: request.controlPlaneURL, format: request.format, trust: trust, clientIdentity: nil)
        let response = try await AgentServiceClient(transport: transport).enroll(EnrollRequest(
            enrollmentToken: request.token, agentVersion: request.agentVersion, requestedHostname: request.hostname,
            csrPem: try csr.pem(), labels: request.labels, bootstrapNonce: SecureRandom.token(), hostFingerprint: request.fingerprint))
        guard !response.agentId.isEmpty, !response.siteId.isEmpty else {
            throw IdentityError(description: "invalid enroll response: missing identifiers")
        }
        let certificate = try Certificate(pem: response.clientCertificatePem)
        let authority = try Certificate(pem: response.caCertificatePem)
        guard certificate.isIssued(by: authority), certificate.matches(key) else {
            throw IdentityError(description: "the enroll response's certificate does not match our key or its CA")
        }
        if case .certificateAuthority(let pinned) = trust, let pinnedCA = try? Certificate(pem: pinned),
           pinnedCA.sha256Fingerprint != authority.sha256Fingerprint {
            throw IdentityError(description: "the control plane returned a CA other than the one it presented")
        }
        let identity = AgentIdentity(
            tenantID: response.tenantId, siteID: response.siteId, hostID: response.hostId, agentID: response.agentId,
            controlPlaneURL: transport.baseURL, certificatePEM: response.clientCertificatePem, privateKeyPEM: try key.pkcs8PEM(),
            caCertificatePEM: response.caCertificatePem, certificateNotBefore: certificate.notBefore,
            certificateExpiresAt: certificate.notAfter, refreshToken: response.refreshToken, savedAt: Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down)))
        try store.save(identity)
        logger.info("enrolled", metadata: [EdgeLogKey.agentID: .string(identity.agentID), EdgeLogKey.siteID: .string(identity.siteID)])
        return identity
    }
}
