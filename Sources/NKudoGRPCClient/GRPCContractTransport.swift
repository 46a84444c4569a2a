public import GRPCCore
public import GRPCNIOTransportHTTP2
public import NKudoWire

/// The generated clients over gRPC: each RPC called at `/<package>.<Service>/<Method>`
/// over HTTP/2 and TLS, messages coded by NKudoWire. Owns a running grpc-swift client,
/// which is shut down gracefully when the transport goes away.
public final class GRPCContractTransport: RPCClientTransport {
    private let client: GRPCClient<HTTP2ClientTransport.Posix>
    private let timeout: Duration

    /// A transport to `host:port`, TLS configured by `security`; every call gets `timeout`.
    public init(host: String, port: Int, security: HTTP2ClientTransport.Posix.TransportSecurity, timeout: Duration) throws {
        let transport = try HTTP2ClientTransport.Posix(target: .dns(host: host, port: port), transportSecurity: security)
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

    /// A call whose request is already encoded (binary protobuf), e.g. a load generator's
    /// prepared heartbeat; the response is decoded by NKudoWire.
    public func unary<Response: ProtoMessage>(_ method: RPCMethod, encodedRequest: [UInt8], responseType: Response.Type) async throws -> Response {
        var options = CallOptions.defaults
        options.timeout = timeout
        options.waitForReady = false
        return try await client.unary(
            request: ClientRequest(message: encodedRequest),
            descriptor: MethodDescriptor(fullyQualifiedService: method.serviceName, method: method.methodName),
            serializer: EncodedMessageSerializer(),
            deserializer: NKudoWireDeserializer<Response>(),
            options: options
        ) { response in
            try response.message
        }
    }

    public func unary<Request: ProtoMessage, Response: ProtoMessage>(
        _ method: RPCMethod, request: Request, responseType: Response.Type
    ) async throws -> Response {
        var options = CallOptions.defaults
        options.timeout = timeout
        options.waitForReady = false
        return try await client.unary(
            request: ClientRequest(message: request),
            descriptor: MethodDescriptor(fullyQualifiedService: method.serviceName, method: method.methodName),
            serializer: NKudoWireSerializer<Request>(),
            deserializer: NKudoWireDeserializer<Response>(),
            options: options
        ) { response in
            try response.message
        }
    }
}
