/// The TLS of a gRPC connection to the control plane, in PEM (the types of grpc-swift stay
/// inside this module).
public struct GRPCTLS: Sendable {
    /// How the server's certificate is checked.
    public enum Verification: Sendable {
        /// Chain and host name.
        case full
        /// Chain only.
        case chainOnly
        /// Nothing (development only).
        case none
    }

    /// The CA certificates to trust (PEM); nil: the system's.
    public var trustRootsPEM: String?
    /// How the server is verified.
    public var verification: Verification
    /// The client's certificate chain (PEM), for mTLS.
    public var certificateChainPEM: String?
    /// The client's private key (PEM), for mTLS.
    public var privateKeyPEM: String?

    /// A TLS configuration.
    public init(trustRootsPEM: String?, verification: Verification, certificateChainPEM: String? = nil, privateKeyPEM: String? = nil) {
        self.trustRootsPEM = trustRootsPEM
        self.verification = verification
        self.certificateChainPEM = certificateChainPEM
        self.privateKeyPEM = privateKeyPEM
    }
}

/// A gRPC call that failed: the status the server sent, or the transport's own failure.
public struct GRPCCallFailure: Error, Sendable, CustomStringConvertible {
    /// The gRPC status code (1 CANCELLED … 16 UNAUTHENTICATED).
    public let code: Int
    /// The status message.
    public let message: String
    /// False when the server was not reached (no connection, the call's deadline passed).
    public let reachedServer: Bool

    public var description: String { "gRPC status \(code): \(message)" }
}
