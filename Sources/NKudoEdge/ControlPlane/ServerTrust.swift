
/// How the agent decides to trust the control plane's server certificate.
public enum ServerTrust: Sendable, Hashable {
    /// Verify the server (chain and host name) against these CA certificates (PEM).
    case certificateAuthority(pem: String)
    /// First contact: the server must present a CA certificate with this SHA-256
    /// fingerprint (hex) that issued its certificate; that CA is then used as above.
    case pinnedCAFingerprint(String)
    /// No verification at all. For development only.
    case insecureSkipVerify
}

/// Why the control plane's TLS identity was not accepted.
public struct ServerTrustError: Error, Sendable, CustomStringConvertible {
    public let description: String

    /// An error with this reason.
    public init(description: String) {
        self.description = description
    }
}
