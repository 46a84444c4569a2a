import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
public import NKudoContract
import NKudoTrust

/// The agent's side of the contract over HTTPS: the generated clients call RPCs through
/// this transport, which posts to each RPC's primary HTTP binding in binary protobuf
/// (default) or JSON, with the agent's client certificate when it has one.
public final class ControlPlaneTransport: RPCClientTransport {
    /// The control plane's base URL (a path prefix is kept; trailing `/` removed).
    public let baseURL: String
    /// The body format.
    public let format: WireFormat
    private let client: ControlPlaneHTTPClient
    private let tls: TLSConfiguration
    private let timeout: TimeAmount

    /// A non-2xx answer or a response that cannot be decoded.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        /// HTTP status (0 when none was received).
        public let status: Int
        /// The server's error message (or the transport's).
        public let message: String
        public var description: String { status == 0 ? message : "HTTP \(status): \(message)" }
    }

    /// Creates a transport; `clientIdentity` is (certificate PEM, private key PEM).
    ///
    /// - Parameter client: The HTTP client to call through: the agent's one client; by
    ///   default one of the transport's own (one-off calls such as enrollment).
    public init(baseURL: String, format: WireFormat, trust: ServerTrust, clientIdentity: (certificatePEM: String, keyPEM: String)?,
                timeout: Duration = .seconds(20), client: ControlPlaneHTTPClient = ControlPlaneHTTPClient()) throws {
        var url = baseURL.trimmingCharacters(in: .whitespaces)
        while url.hasSuffix("/") { url.removeLast() }
        self.baseURL = url
        self.format = format
        self.timeout = .seconds(max(1, timeout.components.seconds))
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv13
        switch trust {
        case .certificateAuthority(let pem):
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(pem.utf8)))
        case .pinnedCAFingerprint:
            throw ServerTrustError(description: "resolve the pinned CA first (ControlPlaneTransport.resolve)")
        case .insecureSkipVerify:
            tls.certificateVerification = .none
        }
        if let clientIdentity {
            tls.certificateChain = try NIOSSLCertificate.fromPEMBytes(Array(clientIdentity.certificatePEM.utf8)).map { .certificate($0) }
            tls.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: Array(clientIdentity.keyPEM.utf8), format: .pem))
        }
        self.tls = tls
        self.client = client
    }

    /// Turns a pinned fingerprint into the CA it names (by looking at the server's chain);
    /// other trusts are returned as they are.
    public static func resolve(_ trust: ServerTrust, baseURL: String) async throws -> ServerTrust {
        guard case .pinnedCAFingerprint(let fingerprint) = trust else { return trust }
        guard let components = URLComponents(string: baseURL), components.scheme == "https", let host = components.host else {
            throw ServerTrustError(description: "the control plane URL must be https://host[:port]: \(baseURL)")
        }
        guard let wanted = PinnedCAProbe.normalizedFingerprint(fingerprint) else {
            throw ServerTrustError(description: "the CA fingerprint must be SHA-256: 64 hex digits, optionally sha256: and colons")
        }
        let port = components.port ?? 443
        do {
            return .certificateAuthority(pem: try await PinnedCAProbe.certificateAuthority(host: host, port: port, fingerprint: wanted))
        } catch let mismatch as PinnedCAProbe.Mismatch {
            throw ServerTrustError(description: mismatch.description)
        } catch let failure as PinnedCAProbe.HandshakeFailure {
            throw ServerTrustError(description: failure.description)
        } catch {
            throw ServerTrustError(description: "cannot connect to \(host):\(port): \(error)")
        }
    }

    public func unary<Request: ProtoMessage, Response: ProtoMessage>(_ method: RPCMethod, request: Request, responseType: Response.Type) async throws -> Response {
        let binding = method.bindings[0]
        var httpRequest = HTTPClientRequest(url: baseURL + binding.path)
        httpRequest.method = HTTPMethod(rawValue: binding.method)
        httpRequest.tlsConfiguration = tls
        httpRequest.headers.add(name: "Accept", value: format.contentType)
        if binding.body == "*" {
            let body = format == .json ? try request.jsonBytes() : try request.serializedBytes()
            httpRequest.headers.add(name: "Content-Type", value: format.contentType)
            httpRequest.body = .bytes(ByteBuffer(bytes: body))
        }
        let response: HTTPClientResponse
        do {
            response = try await client.client.execute(httpRequest, timeout: timeout)
        } catch {
            throw Failure(status: 0, message: "\(binding.method) \(baseURL)\(binding.path): \(error)")
        }
        let bytes = Array(try await response.body.collect(upTo: 8 << 20).readableBytesView)
        let isJSON = response.headers.first(name: "Content-Type")?.hasPrefix("application/json") ?? (format == .json)
        guard (200..<300).contains(Int(response.status.code)) else {
            let error = isJSON ? try? ErrorMessage(jsonBytes: bytes, options: JSONDecodingOptions(ignoreUnknownFields: true))
                               : try? ErrorMessage(serializedBytes: bytes)
            throw Failure(status: Int(response.status.code), message: error?.error ?? String(decoding: bytes.prefix(300), as: UTF8.self))
        }
        do {
            return isJSON ? try Response(jsonBytes: bytes, options: JSONDecodingOptions(ignoreUnknownFields: true))
                          : try Response(serializedBytes: bytes)
        } catch {
            throw Failure(status: Int(response.status.code), message: "undecodable response: \(error)")
        }
    }
}
