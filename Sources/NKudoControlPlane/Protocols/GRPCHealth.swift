import NKudoContract
import NKudoStore

/// `grpc.health.v1.HealthCheckRequest`.
struct HealthCheckRequest: StandardMessage {
    var fields: ProtoFields
    init(fields: ProtoFields) { self.fields = fields }
    static let protoMessageSchema = MessageSchema(fullName: "grpc.health.v1.HealthCheckRequest", fields: [
        standardField(1, "service", .string),
    ])
    /// The service asked about; empty for the server as a whole.
    var service: String { string(0) ?? "" }
}

/// `grpc.health.v1.HealthCheckResponse`.
struct HealthCheckResponse: StandardMessage {
    var fields: ProtoFields
    init(fields: ProtoFields) { self.fields = fields }
    static let servingStatus = EnumSchema(fullName: "grpc.health.v1.HealthCheckResponse.ServingStatus", values: [
        ("UNKNOWN", 0), ("SERVING", 1), ("NOT_SERVING", 2), ("SERVICE_UNKNOWN", 3),
    ])
    static let protoMessageSchema = MessageSchema(fullName: "grpc.health.v1.HealthCheckResponse", fields: [
        standardField(1, "status", .enumeration(servingStatus)),
    ])

    /// A response with this status number (1 serving, 2 not serving).
    init(status: Int32) {
        self.init()
        fields[0] = .enumeration(status)
    }

    /// The status number.
    var status: Int32 {
        if case .enumeration(let number) = fields[0] { return number }
        return 0
    }
}

/// The standard gRPC health service (`grpc.health.v1.Health/Check`): SERVING while the
/// store answers, NOT_SERVING when it does not; NOT_FOUND for a service we do not serve.
/// Served as an RPC route like the contract's, so every transport reaches it.
struct GRPCHealthService: Sendable {
    /// The service's name.
    static let serviceName = "grpc.health.v1.Health"

    /// `Check`: no credentials, no side effects.
    static let check = RPCMethod(serviceName: serviceName, methodName: "Check", bindings: [], caller: .none,
                                 ignoresUnknownJSONFields: false, idempotency: .noSideEffects,
                                 requestType: HealthCheckRequest.self, responseType: HealthCheckResponse.self,
                                 documentation: "The standard gRPC health check.")

    let store: any Store
    /// The services the server answers for, besides the empty name.
    let services: Set<String>

    /// The route of `Check`.
    var routes: [RPCRoute<CallContext>] {
        [RPCRoute(method: Self.check) { (request: HealthCheckRequest, _: CallContext) in try await check(request) }]
    }

    func check(_ request: HealthCheckRequest) async throws -> HealthCheckResponse {
        guard request.service.isEmpty || services.contains(request.service) else {
            throw APIError.notFound("unknown service \(request.service.prefix(200))")
        }
        do {
            try await store.ping()
            return HealthCheckResponse(status: 1)
        } catch {
            return HealthCheckResponse(status: 2)
        }
    }
}
