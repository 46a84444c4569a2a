import NIOCore
import NIOSSL

extension Channel {
    /// The DER bytes of the client certificate presented on this TLS connection, if any.
    /// An HTTP/2 stream is a child channel: the TLS handler is in its parent's pipeline.
    func nioSSLPeerCertificateDER() async throws -> [UInt8]? {
        let hasTLS = (try? await pipeline.containsHandler(type: NIOSSLHandler.self).get()) != nil
        let connection = hasTLS ? self : (parent ?? self)
        guard let certificate = try await connection.nioSSL_peerCertificate().get() else { return nil }
        return try certificate.toDERBytes()
    }
}
