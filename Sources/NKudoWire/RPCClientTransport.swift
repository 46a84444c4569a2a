/// What a generated client needs to call an RPC: send one request, get one response.
///
/// Implementations choose the wire format and the HTTP binding (or the Connect path).
public protocol RPCClientTransport: Sendable {
    /// Calls `method` with `request` and decodes the response as `Response`.
    func unary<Request: ProtoMessage, Response: ProtoMessage>(
        _ method: RPCMethod, request: Request, responseType: Response.Type
    ) async throws -> Response
}
