import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
public import NKudoContract
import NKudoWire

/// The generated clients' transport for operators: HTTPS to the control plane with the
/// server verified against the pinned CA, each RPC on its primary REST binding (path
/// parameters and, for requests without a body, the query filled from the request's
/// fields), JSON or binary protobuf, and the credential the RPC's caller kind needs
/// (`X-Admin-Key` or `X-API-Key`).
///
/// Failures are ``ClientError``s: the server's error body and request id when it
/// answered, a connection or TLS reason when it did not.
public final class APITransport: RPCClientTransport {
    /// What the transport connects with.
    public let settings: ConnectionSettings
    private let client: HTTPClient
    private let tls: TLSConfiguration

    /// Creates a transport (and its HTTP client: call ``shutdown()`` when done).
    ///
    /// - Throws: ``ClientError`` (`.usage`) when the URL is not `https://` or the CA is not PEM.
    public init(settings: ConnectionSettings) throws(ClientError) {
        self.settings = settings
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv13
        do {
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(settings.caCertificatePEM.utf8)))
        } catch {
            throw ClientError(.usage, "the pinned CA certificate is not readable PEM: \(error)")
        }
        self.tls = tls
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        configuration.timeout = .init(connect: .seconds(5))
        configuration.httpVersion = .http1Only
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// Closes the HTTP client's connections.
    public func shutdown() async {
        try? await client.shutdown()
    }

    public func unary<Request: ProtoMessage, Response: ProtoMessage>(_ method: RPCMethod, request: Request, responseType: Response.Type) async throws -> Response {
        let binding = method.bindings[0]
        let bound: HTTPBindingRequest
        do {
            bound = try binding.request(request.protoFields)
        } catch {
            throw ClientError(.usage, "\(method.methodName): \(error)")
        }
        var httpRequest = HTTPClientRequest(url: settings.baseURL + bound.target)
        httpRequest.method = HTTPMethod(rawValue: binding.method)
        httpRequest.tlsConfiguration = tls
        httpRequest.headers.add(name: "Accept", value: settings.format.contentType)
        httpRequest.headers.add(name: "User-Agent", value: "nkudo/\(NKudoVersion.current)")
        try addCredential(for: method, to: &httpRequest.headers)
        do {
            if binding.body == "*" {
                let message = try Request(protoFields: bound.bodyFields)
                let body = settings.format == .json ? try message.jsonBytes() : try message.serializedBytes()
                httpRequest.headers.add(name: "Content-Type", value: settings.format.contentType)
                httpRequest.body = .bytes(ByteBuffer(bytes: body))
            }
        } catch {
            throw ClientError(.usage, "\(method.methodName): cannot encode the request: \(error)")
        }
        let response: HTTPClientResponse
        let bytes: [UInt8]
        do {
            response = try await client.execute(httpRequest, timeout: .seconds(Int64(settings.timeoutSeconds) + Self.longPollSeconds(request)))
            bytes = Array(try await response.body.collect(upTo: 16 << 20).readableBytesView)
        } catch {
            throw ConnectionFailure.describe(error, url: settings.baseURL, pinnedFingerprint: settings.caFingerprint)
        }
        let status = Int(response.status.code)
        let isJSON = response.headers.first(name: "Content-Type").flatMap { WireFormat(contentType: $0) }.map { $0 == .json }
            ?? (settings.format == .json)
        guard (200..<300).contains(status) else {
            let body = isJSON ? try? ErrorMessage(jsonBytes: bytes, options: JSONDecodingOptions(ignoreUnknownFields: true))
                              : try? ErrorMessage(serializedBytes: bytes)
            let requestID = body.map(\.requestId).flatMap { $0.isEmpty ? nil : $0 } ?? response.headers.first(name: "X-Request-ID")
            let message = body.map(\.error).flatMap { $0.isEmpty ? nil : $0 }
                ?? (bytes.isEmpty ? response.status.reasonPhrase : String(decoding: bytes.prefix(300), as: UTF8.self))
            throw ClientError(ClientError.kind(forStatus: status), message, status: status,
                              code: body.map(\.code).flatMap { $0.isEmpty ? nil : $0 }, requestID: requestID)
        }
        do {
            return isJSON ? try Response(jsonBytes: bytes, options: JSONDecodingOptions(ignoreUnknownFields: true))
                          : try Response(serializedBytes: bytes)
        } catch {
            throw ClientError(.api, "\(method.methodName): undecodable response: \(error)", status: status,
                              requestID: response.headers.first(name: "X-Request-ID"))
        }
    }

    private func addCredential(for method: RPCMethod, to headers: inout HTTPHeaders) throws(ClientError) {
        switch method.caller {
        case .admin:
            guard let key = settings.adminKey else {
                throw ClientError(.usage, "this command needs the admin key: --admin-key, NKUDO_ADMIN_KEY or `nkudo login --admin-key`")
            }
            headers.add(name: "X-Admin-Key", value: key)
        case .tenant:
            guard let key = settings.apiKey else {
                throw ClientError(.usage, "this command needs an API key: --api-key, NKUDO_API_KEY or `nkudo login --api-key`")
            }
            headers.add(name: "X-API-Key", value: key)
        case .none, .agent, .enrollmentToken:
            break
        }
    }

    /// The wait of a long poll (a request's `wait` duration field, e.g. `GetPlan`), which
    /// the request's time limit must allow for on top of the usual one.
    static func longPollSeconds(_ request: some ProtoMessage) -> Int64 {
        let fields = request.protoFields
        guard let index = fields.schema.fieldIndex(named: "wait"), case .string(let text)? = fields[index],
              let wait = HumanFormat.parseDuration(text) else { return 0 }
        return wait.components.seconds + 1
    }
}
