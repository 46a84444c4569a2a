import NIOCore
import NIOPosix
import NIOSSL
import NKudoPKI

/// Trust on first use, checked: connects to a TLS server, lets the handshake show the
/// chain it presents (nothing is sent), and picks the CA in that chain whose SHA-256
/// fingerprint the operator was given and which issued the server's certificate. The
/// agent (`nkudo-edge enroll --ca-fingerprint`) and the CLI (`nkudo login
/// --ca-fingerprint`) pin the control plane's CA this way; later connections verify the
/// server against that CA.
public enum PinnedCAProbe {
    /// The server's chain has no CA with the pinned fingerprint, or that CA did not issue
    /// the server's certificate.
    public struct Mismatch: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    /// The server closed the connection or timed out during the handshake.
    public struct HandshakeFailure: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    /// `sha256:AB:CD…` or `abcd…` → 64 lower-case hex digits; `nil` when it is not a
    /// SHA-256 fingerprint.
    public static func normalizedFingerprint(_ fingerprint: String) -> String? {
        var text = fingerprint.filter { !$0.isWhitespace }.lowercased()
        if text.hasPrefix("sha256:") { text.removeFirst("sha256:".count) }
        text.removeAll { $0 == ":" }
        return text.count == 64 && text.allSatisfy(\.isHexDigit) ? text : nil
    }

    /// The PEM of the CA in the chain `host:port` presents whose fingerprint is `fingerprint`
    /// (64 lower-case hex digits) and which issued the server's certificate.
    ///
    /// - Throws: ``Mismatch`` when the chain has no such CA, ``HandshakeFailure`` when the
    ///   handshake does not complete, and NIO's connection errors as they are, so callers
    ///   can describe them in their own words.
    public static func certificateAuthority(host: String, port: Int, fingerprint: String) async throws -> String {
        let chain = try await presentedChain(host: host, port: port)
        guard let leaf = chain.first else { throw Mismatch(description: "\(host):\(port) presented no certificate") }
        for candidate in chain where candidate.sha256Fingerprint == fingerprint {
            guard leaf.isIssued(by: candidate) || leaf == candidate else {
                throw Mismatch(description: "the CA sha256:\(fingerprint) did not issue the certificate of \(host):\(port)")
            }
            return try candidate.pem()
        }
        throw Mismatch(description: "the chain of \(host):\(port) has no CA with fingerprint sha256:\(fingerprint) "
                       + "(presented: \(chain.map { "sha256:" + $0.sha256Fingerprint }.joined(separator: ", ")))")
    }

    // The synchronous steps live in their own non-inlined functions: Swift 6.3.1's
    // optimizer crashed (signal 11 in LLVM's coroutine splitting, swifterror handling) on
    // the release build when they were part of this async function.
    private static func presentedChain(host: String, port: Int) async throws -> [Certificate] {
        let context = try clientContext()
        let presented = try await handshakeChain(host: host, port: port, context: context)
        return try certificates(presented)
    }

    @inline(never)
    private static func clientContext() throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv13
        configuration.certificateVerification = .none
        return try NIOSSLContext(configuration: configuration)
    }

    @inline(never)
    private static func certificates(_ presented: [NIOSSLCertificate]) throws -> [Certificate] {
        try presented.map { try Certificate(der: try $0.toDERBytes()) }
    }

    /// Connects, lets the handshake reach certificate verification, returns the chain the
    /// server presented and closes the connection.
    @inline(never)
    private static func handshakeChain(host: String, port: Int, context: NIOSSLContext) async throws -> [NIOSSLCertificate] {
        let serverName = host.first?.isNumber == true || host.contains(":") ? nil : host
        let eventLoop = MultiThreadedEventLoopGroup.singleton.next()
        let presented = eventLoop.makePromise(of: [NIOSSLCertificate].self)
        let timeout = eventLoop.scheduleTask(in: .seconds(15)) {
            presented.fail(HandshakeFailure(description: "timed out waiting for the TLS handshake with \(host):\(port)"))
        }
        defer { timeout.cancel() }
        let connected = ClientBootstrap(group: eventLoop)
            .connectTimeout(.seconds(10))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = try NIOSSLClientHandler(context: context, serverHostname: serverName,
                                                          customVerificationCallback: { certificates, promise in
                        presented.succeed(certificates)
                        promise.succeed(.certificateVerified)
                    })
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
            .connect(host: host, port: port)
        connected.whenFailure { presented.fail($0) }
        connected.whenSuccess { channel in
            channel.closeFuture.whenComplete { _ in
                presented.fail(HandshakeFailure(description: "\(host):\(port) closed the connection during the TLS handshake (is it HTTPS?)"))
            }
        }
        let chain = try await presented.futureResult.get()
        connected.whenSuccess { channel in channel.close(promise: nil) }
        return chain
    }
}
