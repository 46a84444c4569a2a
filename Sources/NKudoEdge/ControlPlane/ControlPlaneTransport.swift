import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
public import NKudoContract
import NKudoTrust

/// Makes the gRPC transport to a control plane (host, port, trust, client identity, call
/// timeout). It lives outside this module (`NKudoEdgeGRPC`, over grpc-swift), which keeps
/// grpc-swift's C modules out of the agent library's build graph; its failures must be
/// ``ControlPlaneTransport/Failure``s.
public typealias GRPCTransportFactory = @Sendable (_ host: String, _ port: Int, _ trust: ServerTrust,
                                                   _ clientIdentity: (certificatePEM: String, keyPEM: String)?,
                                                   _ timeout: Duration) throws -> any RPCClientTransport

/// The protocol the agent speaks to the control plane (`--transport`).
public enum ControlPlaneProtocol: String, Sendable, CaseIterable {
    /// Each RPC's primary HTTP binding (HTTP/1.1).
    case rest
    /// The Connect unary protocol at `/<package>.<Service>/<Method>` (HTTP/1.1).
    case connect
    /// gRPC over HTTP/2, binary protobuf.
    case grpc
}

/// The agent's side of the contract over HTTPS: the generated clients call RPCs through
/// this transport, in REST (each RPC's primary HTTP binding), Connect or gRPC, in binary
/// protobuf (default) or JSON (not gRPC), with the agent's client certificate when it has
/// one. Whatever the protocol, a failure is a ``Failure`` with the HTTP status REST would
/// have answered (0 when the control plane was not reached).
public final class ControlPlaneTransport: RPCClientTransport {
    /// The control plane's base URL (a path prefix is kept; trailing `/` removed).
    public let baseURL: String
    /// The body format.
    public let format: WireFormat
    /// The protocol.
    public let transportProtocol: ControlPlaneProtocol
    private let client: ControlPlaneHTTPClient
    private let tls: TLSConfiguration
    private let timeout: TimeAmount
    private let grpc: (any RPCClientTransport)?

    /// A non-2xx answer or a response that cannot be decoded.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        /// HTTP status (0 when none was received).
        public let status: Int
        /// The server's error message (or the transport's).
        public let message: String
        public var description: String { status == 0 ? message : "HTTP \(status): \(message)" }

        /// A failure with this status (0: the control plane was not reached).
        public init(status: Int, message: String) {
            self.status = status
            self.message = message
        }
    }

    /// Creates a transport; `clientIdentity` is (certificate PEM, private key PEM).
    ///
    /// - Parameter client: The HTTP client to call through: the agent's one client; by
    ///   default one of the transport's own (one-off calls such as enrollment).
    public init(baseURL: String, format: WireFormat, trust: ServerTrust, clientIdentity: (certificatePEM: String, keyPEM: String)?,
                timeout: Duration = .seconds(20), client: ControlPlaneHTTPClient = ControlPlaneHTTPClient(),
                protocol transportProtocol: ControlPlaneProtocol = .rest, grpc makeGRPC: GRPCTransportFactory? = nil) throws {
        var url = baseURL.trimmingCharacters(in: .whitespaces)
        while url.hasSuffix("/") { url.removeLast() }
        self.baseURL = url
        self.format = transportProtocol == .grpc ? .binary : format
        self.transportProtocol = transportProtocol
        self.timeout = .seconds(max(1, timeout.components.seconds))
        if transportProtocol == .grpc {
            guard let makeGRPC else { throw ServerTrustError(description: "this build of the agent has no gRPC transport") }
            guard let components = URLComponents(string: url), components.scheme == "https", let host = components.host else {
                throw ServerTrustError(description: "the control plane URL must be https://host[:port]: \(url)")
            }
            guard components.path.isEmpty || components.path == "/" else {
                throw ServerTrustError(description: "gRPC needs the control plane at the root of its URL, not under \(components.path)")
            }
            if case .pinnedCAFingerprint = trust {
                throw ServerTrustError(description: "resolve the pinned CA first (ControlPlaneTransport.resolve)")
            }
            grpc = try makeGRPC(host, components.port ?? 443, trust, clientIdentity, timeout)
        } else {
            grpc = nil
        }
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
            throw ServerTrustError(description: "cannot connect to \(host):\(port): \(ConnectionErrorText.reason(error))")
        }
    }

    public func unary<Request: ProtoMessage, Response: ProtoMessage>(_ method: RPCMethod, request: Request, responseType: Response.Type) async throws -> Response {
        switch transportProtocol {
        case .rest: return try await restCall(method, request: request, responseType: responseType)
        case .connect: return try await connectCall(method, request: request, responseType: responseType)
        case .grpc: return try await grpcCall(method, request: request, responseType: responseType)
        }
    }

    private func restCall<Request: ProtoMessage, Response: ProtoMessage>(_ method: RPCMethod, request: Request, responseType: Response.Type) async throws -> Response {
        let binding = method.bindings[0]
        let bound = try binding.request(request.protoFields)
        var httpRequest = HTTPClientRequest(url: baseURL + bound.target)
        httpRequest.method = HTTPMethod(rawValue: binding.method)
        httpRequest.tlsConfiguration = tls
        httpRequest.headers.add(name: "Accept", value: format.contentType)
        if binding.body == "*" {
            let message = try Request(protoFields: bound.bodyFields)
            let body = format == .json ? try message.jsonBytes() : try message.serializedBytes()
            httpRequest.headers.add(name: "Content-Type", value: format.contentType)
            httpRequest.body = .bytes(ByteBuffer(bytes: body))
        }
        let response: HTTPClientResponse
        do {
            response = try await client.client.execute(httpRequest, timeout: timeout)
        } catch {
            throw Failure(status: 0, message: "\(binding.method) \(baseURL)\(binding.path): \(ConnectionErrorText.reason(error))")
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

extension ControlPlaneTransport {
    /// A Connect unary call: POST to the Connect path; errors are Connect's JSON error.
    private func connectCall<Request: ProtoMessage, Response: ProtoMessage>(_ method: RPCMethod, request: Request,
                                                                       responseType: Response.Type) async throws -> Response {
        var httpRequest = HTTPClientRequest(url: baseURL + method.connectPath)
        httpRequest.method = .POST
        httpRequest.tlsConfiguration = tls
        httpRequest.headers.add(name: "Content-Type", value: format.connectContentType)
        httpRequest.headers.add(name: "Connect-Protocol-Version", value: "1")
        httpRequest.headers.add(name: "Connect-Timeout-Ms", value: String(timeout.nanoseconds / 1_000_000))
        httpRequest.body = .bytes(ByteBuffer(bytes: format == .json ? try request.jsonBytes() : try request.serializedBytes()))
        let response: HTTPClientResponse
        do {
            response = try await client.client.execute(httpRequest, timeout: timeout)
        } catch {
            throw Failure(status: 0, message: "POST \(baseURL)\(method.connectPath): \(ConnectionErrorText.reason(error))")
        }
        let bytes = Array(try await response.body.collect(upTo: 8 << 20).readableBytesView)
        guard response.status == .ok else {
            let error = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any]
            let code = error?["code"] as? String ?? ""
            throw Failure(status: Self.restStatus(connectCode: code) ?? Int(response.status.code),
                          message: error?["message"] as? String ?? String(decoding: bytes.prefix(300), as: UTF8.self))
        }
        do {
            return format == .json ? try Response(jsonBytes: bytes, options: JSONDecodingOptions(ignoreUnknownFields: true))
                                   : try Response(serializedBytes: bytes)
        } catch {
            throw Failure(status: 200, message: "undecodable response: \(error)")
        }
    }

    /// A gRPC call; its status becomes the REST status of the same code.
    private func grpcCall<Request: ProtoMessage, Response: ProtoMessage>(_ method: RPCMethod, request: Request,
                                                                    responseType: Response.Type) async throws -> Response {
        guard let grpc else { throw Failure(status: 0, message: "no gRPC connection") }
        do {
            return try await grpc.unary(method, request: request, responseType: responseType)
        } catch let failure as Failure {
            throw failure
        } catch {
            throw Failure(status: 0, message: "gRPC \(method.fullName): \(error)")
        }
    }

    /// The REST status the control plane answers for a Connect error code (nil: unknown).
    static func restStatus(connectCode: String) -> Int? {
        switch connectCode {
        case "canceled": return 499
        case "invalid_argument", "out_of_range", "failed_precondition": return 400
        case "unauthenticated": return 401
        case "permission_denied": return 403
        case "not_found": return 404
        case "already_exists", "aborted": return 409
        case "resource_exhausted": return 429
        case "unimplemented": return 501
        case "unavailable": return 503
        case "deadline_exceeded": return 504
        case "internal", "unknown", "data_loss": return 500
        default: return nil
        }
    }

    /// The REST status of a gRPC status code (what REST would have answered).
    public static func restStatus(grpcCode: Int) -> Int {
        switch grpcCode {
        case 1: return 499
        case 3, 9, 11: return 400
        case 16: return 401
        case 7: return 403
        case 5: return 404
        case 6, 10: return 409
        case 8: return 429
        case 12: return 501
        case 14: return 503
        case 4: return 504
        default: return 500
        }
    }

}
