import GRPCCore
import GRPCNIOTransportHTTP2
public import NKudoWire

/// The generated clients over gRPC: each RPC called at `/<package>.<Service>/<Method>`
/// over HTTP/2 and TLS, messages coded by NKudoWire. Owns a running grpc-swift client,
/// which is shut down gracefully when the transport goes away. Failures are
/// ``GRPCCallFailure``s.
public final class GRPCContractTransport: RPCClientTransport {
    private let client: GRPCClient<HTTP2ClientTransport.Posix>
    private let timeout: Duration

    /// A transport to `host:port` with `tls`; every call gets `timeout`.
    public init(host: String, port: Int, tls: GRPCTLS, timeout: Duration) throws {
        let verification: TLSConfig.CertificateVerification
        switch tls.verification {
        case .full: verification = .fullVerification
        case .chainOnly: verification = .noHostnameVerification
        case .none: verification = .noVerification
        }
        var security = HTTP2ClientTransport.Posix.TransportSecurity.TLS(
            certificateChain: [], privateKey: nil, serverCertificateVerification: verification,
            trustRoots: tls.trustRootsPEM.map { .certificates([.bytes(Array($0.utf8), format: .pem)]) } ?? .systemDefault)
        if let chain = tls.certificateChainPEM, let key = tls.privateKeyPEM {
            security.certificateChain = [.bytes(Array(chain.utf8), format: .pem)]
            security.privateKey = .bytes(Array(key.utf8), format: .pem)
        }
        // An IP address is no server name to send in SNI (TLS refuses it): IP targets go without.
        let target: any ResolvableTarget
        if host.contains(":") {
            target = .ipv6(address: String(host.filter { $0 != "[" && $0 != "]" }), port: port)
        } else if !host.isEmpty, host.allSatisfy({ $0.isNumber || $0 == "." }) {
            target = .ipv4(address: host, port: port)
        } else {
            target = .dns(host: host, port: port)
        }
        let transport = try HTTP2ClientTransport.Posix(target: target, transportSecurity: .tls(security))
        let client = GRPCClient(transport: transport)
        self.client = client
        self.timeout = timeout
        Task { try? await client.runConnections() }
    }

    deinit {
        client.beginGracefulShutdown()
    }

    /// Stops accepting calls and closes the connection once the calls in flight are done.
    public func shutdown() {
        client.beginGracefulShutdown()
    }

    public func unary<Request: ProtoMessage, Response: ProtoMessage>(
        _ method: RPCMethod, request: Request, responseType: Response.Type
    ) async throws -> Response {
        try await call(method, request: request, serializer: NKudoWireSerializer<Request>())
    }

    /// A call whose request is already encoded (binary protobuf), e.g. a load generator's
    /// prepared heartbeat; the response is decoded by NKudoWire.
    public func unary<Response: ProtoMessage>(_ method: RPCMethod, encodedRequest: [UInt8], responseType: Response.Type) async throws -> Response {
        try await call(method, request: encodedRequest, serializer: EncodedMessageSerializer())
    }

    private func call<Request: Sendable, Response: ProtoMessage>(_ method: RPCMethod, request: Request,
                                                       serializer: some MessageSerializer<Request>) async throws -> Response {
        var options = CallOptions.defaults
        options.timeout = timeout
        options.waitForReady = false
        do {
            return try await client.unary(
                request: ClientRequest(message: request),
                descriptor: MethodDescriptor(fullyQualifiedService: method.serviceName, method: method.methodName),
                serializer: serializer,
                deserializer: NKudoWireDeserializer<Response>(),
                options: options
            ) { response in
                try response.message
            }
        } catch let error as RPCError {
            // The transport's own failures (no connection, the call's deadline) did not reach the server.
            let reached = !(error.code == .unavailable && error.cause != nil) && error.code != .deadlineExceeded
            throw GRPCCallFailure(code: error.code.rawValue, message: error.message, reachedServer: reached)
        }
    }
}
