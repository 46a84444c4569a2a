import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import NKudoPKI

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

/// Resolves a pinned CA fingerprint to the CA certificate by looking at the chain the
/// server presents, before any secret is sent.
enum PinnedCAProbe {
    /// The PEM of the CA in the server's chain whose fingerprint matches `fingerprint`
    /// and which issued the server's certificate.
    static func certificateAuthority(host: String, port: Int, fingerprint: String) async throws -> String {
        let wanted = normalize(fingerprint)
        let chain = try await presentedChain(host: host, port: port)
        guard let leaf = chain.first else { throw ServerTrustError(description: "the server presented no certificate") }
        for candidate in chain where candidate.sha256Fingerprint == wanted {
            guard leaf.isIssued(by: candidate) || leaf == candidate else {
                throw ServerTrustError(description: "the pinned CA did not issue the server's certificate")
            }
            return try candidate.pem()
        }
        throw ServerTrustError(description: "the server's chain has no CA with fingerprint sha256:\(wanted) (presented: \(chain.map(\.sha256Fingerprint).joined(separator: ", ")))")
    }

    /// `sha256:AB:CD…` or `abcd…` → lowercase hex without separators.
    static func normalize(_ fingerprint: String) -> String {
        var text = fingerprint.trimmingCharacters(in: .whitespaces).lowercased()
        if text.hasPrefix("sha256:") { text.removeFirst("sha256:".count) }
        return text.filter { $0.isHexDigit }
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
        var result: [Certificate] = []
        for certificate in presented {
            result.append(try Certificate(der: try certificate.toDERBytes()))
        }
        return result
    }

    /// Connects, lets the TLS handshake reach certificate verification and returns the
    /// chain the server presented (nothing is sent after the handshake).
    @inline(never)
    private static func handshakeChain(host: String, port: Int, context: NIOSSLContext) async throws -> [NIOSSLCertificate] {
        let serverName = host.first?.isNumber == true || host.contains(":") ? nil : host
        let eventLoop = MultiThreadedEventLoopGroup.singleton.next()
        let presented = eventLoop.makePromise(of: [NIOSSLCertificate].self)
        let timeout = eventLoop.scheduleTask(in: .seconds(15)) {
            presented.fail(ServerTrustError(description: "timed out waiting for the TLS handshake with \(host):\(port)"))
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
                presented.fail(ServerTrustError(description: "the connection to \(host):\(port) closed during the TLS handshake"))
            }
        }
        let chain: [NIOSSLCertificate]
        do {
            chain = try await presented.futureResult.get()
        } catch let error as ServerTrustError {
            throw error
        } catch {
            throw ServerTrustError(description: "cannot connect to \(host):\(port): \(error)")
        }
        connected.whenSuccess { channel in channel.close(promise: nil) }
        return chain
    }
}
