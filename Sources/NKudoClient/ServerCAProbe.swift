import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import NKudoPKI

/// Trust on first use, checked: connects to the control plane, lets the TLS handshake
/// show the server's chain (nothing is sent), and returns the CA in that chain whose
/// SHA-256 fingerprint is the one the operator was given and which issued the server's
/// certificate. `nkudo login` stores that CA; later calls verify the server against it.
public enum ServerCAProbe {
    /// The PEM of the pinned CA of the server at `url`.
    ///
    /// - Throws: ``ClientError`` `.connection` when the server cannot be reached or has no
    ///   such CA, `.usage` when the URL or the fingerprint are malformed.
    public static func pinnedCA(url: String, fingerprint: String) async throws(ClientError) -> String {
        let wanted = try normalizedFingerprint(fingerprint)
        let (host, port) = try hostAndPort(url)
        let chain: [Certificate]
        do {
            chain = try await presentedChain(host: host, port: port)
        } catch let error as ClientError {
            throw error
        } catch {
            throw ConnectionFailure.describe(error, url: url, pinnedFingerprint: nil)
        }
        guard let leaf = chain.first else { throw ClientError(.connection, "\(url) presented no certificate") }
        for candidate in chain where candidate.sha256Fingerprint == wanted {
            guard leaf.isIssued(by: candidate) || leaf == candidate else {
                throw ClientError(.connection, "the CA sha256:\(wanted) did not issue the certificate of \(url)")
            }
            do {
                return try candidate.pem()
            } catch {
                throw ClientError(.connection, "cannot encode the CA of \(url): \(error)")
            }
        }
        throw ClientError(.connection, "\(url) is not the server you pinned: its chain has no CA with fingerprint sha256:\(wanted) "
                          + "(presented: \(chain.map { "sha256:" + $0.sha256Fingerprint }.joined(separator: ", ")))")
    }

    /// `sha256:AB:CD…` or `abcd…` → 64 lower-case hex digits.
    ///
    /// - Throws: ``ClientError`` `.usage` when it is not a SHA-256 fingerprint.
    public static func normalizedFingerprint(_ fingerprint: String) throws(ClientError) -> String {
        var text = fingerprint.trimmingCharacters(in: " \t\n").lowercased()
        if text.hasPrefix("sha256:") { text.removeFirst("sha256:".count) }
        text.removeAll { $0 == ":" }
        guard text.count == 64, text.allSatisfy(\.isHexDigit) else {
            throw ClientError(.usage, "--ca-fingerprint must be a SHA-256 fingerprint: 64 hex digits, optionally `sha256:` and colons")
        }
        return text
    }

    /// The SHA-256 fingerprint of the first certificate in `pem`.
    public static func fingerprint(ofPEM pem: String) throws(ClientError) -> String {
        do {
            return try Certificate(pem: pem).sha256Fingerprint
        } catch {
            throw ClientError(.usage, "not a PEM certificate: \(error)")
        }
    }

    /// Host and port of an `https://` URL.
    public static func hostAndPort(_ url: String) throws(ClientError) -> (host: String, port: Int) {
        guard let components = URLComponents(string: url), components.scheme?.lowercased() == "https",
              let host = components.host, !host.isEmpty else {
            throw ClientError(.usage, "the control plane URL must be https://host[:port], not \(url)")
        }
        return (host, components.port ?? 443)
    }

    // Synchronous steps in non-inlined functions, as the agent's probe does: Swift 6.3.1's
    // optimizer crashed on the release build when they were part of the async function.
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

    /// Connects, lets the handshake reach certificate verification, returns the chain
    /// the server presented and closes the connection.
    @inline(never)
    private static func handshakeChain(host: String, port: Int, context: NIOSSLContext) async throws -> [NIOSSLCertificate] {
        let serverName = host.first?.isNumber == true || host.contains(":") ? nil : host
        let url = "https://\(host):\(port)"
        let eventLoop = MultiThreadedEventLoopGroup.singleton.next()
        let presented = eventLoop.makePromise(of: [NIOSSLCertificate].self)
        let timeout = eventLoop.scheduleTask(in: .seconds(15)) {
            presented.fail(ClientError(.connection, "timed out waiting for the TLS handshake with \(url)"))
        }
        defer { timeout.cancel() }
        let connected = ClientBootstrap(group: eventLoop)
            .connectTimeout(.seconds(5))
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
                presented.fail(ClientError(.connection, "\(url) closed the connection during the TLS handshake (is it HTTPS?)"))
            }
        }
        let chain = try await presented.futureResult.get()
        connected.whenSuccess { channel in channel.close(promise: nil) }
        return chain
    }
}
