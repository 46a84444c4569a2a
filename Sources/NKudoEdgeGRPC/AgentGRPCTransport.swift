import NKudoContract
import NKudoEdge
import NKudoGRPCClient

/// A gRPC transport whose failures are ``ControlPlaneTransport/Failure``s: the gRPC status
/// as the REST status of the same code, 0 when the server was not reached (so the agent
/// fails over as it does over HTTPS).
struct AgentGRPCTransport: RPCClientTransport {
    let transport: GRPCContractTransport

    func unary<Request: ProtoMessage, Response: ProtoMessage>(_ method: RPCMethod, request: Request,
                                                             responseType: Response.Type) async throws -> Response {
        do {
            return try await transport.unary(method, request: request, responseType: responseType)
        } catch let failure as GRPCCallFailure {
            throw ControlPlaneTransport.Failure(status: failure.reachedServer ? ControlPlaneTransport.restStatus(grpcCode: failure.code) : 0,
                                                message: failure.message)
        }
    }
}
