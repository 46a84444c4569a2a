public import Foundation
public import Logging
public import NKudoContract

/// The agent's connection to the control plane: its identity, the mTLS transport built
/// from it, the list of control-plane URLs it fails over between, and certificate
/// renewal at about two thirds of the certificate's lifetime. One HTTP client serves all
/// of it for the agent's lifetime; a fail-over or renewal only changes the URL or the
/// TLS settings requests carry.
public actor ControlPlaneSession {
    /// The identity in use (replaced by renewals).
    public private(set) var identity: AgentIdentity
    private let urls: [String]
    private var urlIndex = 0
    private let format: WireFormat
    private let transportProtocol: ControlPlaneProtocol
    private let makeGRPC: GRPCTransportFactory?
    private let insecureSkipVerify: Bool
    private let renewer: CertificateRenewer
    private let logger: Logger
    private var transport: ControlPlaneTransport?
    /// The transport of long polls, whose calls may last longer: (its timeout, it).
    private var longPollTransport: (timeout: Duration, transport: ControlPlaneTransport)?
    private var renewalDate: Date
    private let http = ControlPlaneHTTPClient()

    /// A session for `identity`.
    ///
    /// - Parameters:
    ///   - identity: The enrolled identity.
    ///   - identityStore: Where renewed identities are saved.
    ///   - urls: Control planes to use, in order of preference; empty → the identity's.
    ///   - format: Body format of every call.
    ///   - transportProtocol: REST, Connect or gRPC for the agent API (enrollment and renewal use REST).
    ///   - grpc: Makes the gRPC transport (needed for `.grpc`; `NKudoEdgeGRPC`).
    ///   - insecureSkipVerify: Do not verify the server (development only).
    ///   - logger: Diagnostics.
    public init(identity: AgentIdentity, identityStore: IdentityStore, urls: [String], format: WireFormat,
                transportProtocol: ControlPlaneProtocol = .rest, grpc: GRPCTransportFactory? = nil, insecureSkipVerify: Bool,
                logger: Logger) {
        self.identity = identity
        self.urls = urls.isEmpty ? [identity.controlPlaneURL] : urls
        self.format = format
        self.transportProtocol = transportProtocol
        self.makeGRPC = grpc
        self.insecureSkipVerify = insecureSkipVerify
        self.renewer = CertificateRenewer(store: identityStore, format: format, logger: logger)
        self.logger = logger
        self.renewalDate = CertificateRenewer.renewalDate(for: identity)
    }

    /// The control plane currently in use.
    public var currentURL: String { urls[urlIndex] }

    /// A client of the agent API on the current control plane.
    public func client() throws -> AgentServiceClient<ControlPlaneTransport> {
        if let transport {
            return AgentServiceClient(transport: transport)
        }
        let built = try ControlPlaneTransport(baseURL: currentURL, format: format, trust: trust,
                                              clientIdentity: (identity.certificatePEM, identity.privateKeyPEM), client: http,
                                              protocol: transportProtocol, grpc: makeGRPC)
        transport = built
        return AgentServiceClient(transport: built)
    }

    /// A client of the agent API on the current control plane whose calls may take up to
    /// `timeout` (long polls).
    public func longPollClient(timeout: Duration) throws -> AgentServiceClient<ControlPlaneTransport> {
        if let longPollTransport, longPollTransport.timeout == timeout {
            return AgentServiceClient(transport: longPollTransport.transport)
        }
        let built = try ControlPlaneTransport(baseURL: currentURL, format: format, trust: trust,
                                              clientIdentity: (identity.certificatePEM, identity.privateKeyPEM), timeout: timeout,
                                              client: http, protocol: transportProtocol, grpc: makeGRPC)
        longPollTransport = (timeout, built)
        return AgentServiceClient(transport: built)
    }

    /// Moves on to the next control plane (after it was unreachable); a no-op with one URL.
    public func failOver() {
        guard urls.count > 1 else { return }
        urlIndex = (urlIndex + 1) % urls.count
        transport = nil
        longPollTransport = nil
        logger.warning("switching control plane", metadata: [EdgeLogKey.controlPlane: "\(currentURL)"])
    }

    /// Renews the certificate when it is due (or already expired); a failure is logged
    /// and retried at the next call.
    public func renewIfDue(now: Date = Date()) async {
        guard now >= renewalDate else { return }
        do {
            identity = try await renewer.renew(identity, baseURL: currentURL, trust: trust, now: now, client: http)
            transport = nil
        longPollTransport = nil
            renewalDate = CertificateRenewer.renewalDate(for: identity)
        } catch {
            logger.warning("certificate renewal failed; retrying later", metadata: [
                EdgeLogKey.error: "\(error)", EdgeLogKey.expiresAt: "\(identity.certificateExpiresAt)",
            ])
        }
    }

    private var trust: ServerTrust {
        insecureSkipVerify ? .insecureSkipVerify : .certificateAuthority(pem: identity.caCertificatePEM)
    }
}
