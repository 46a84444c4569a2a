import NIOCore
import NIOSSL

extension Channel {
    /// The DER bytes of the client certificate presented on this TLS connection, if any.
    func nioSSLPeerCertificateDER() async throws -> [UInt8]? {
        guard let certificate = try await nioSSL_peerCertificate().get() else { return nil }
        return try certificate.toDERBytes()
    }
}
