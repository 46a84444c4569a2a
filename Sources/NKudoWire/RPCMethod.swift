/// Static description of one RPC of the contract: its names, HTTP bindings, caller
/// and decoding policy, and its message types. Generated per RPC.
public struct RPCMethod: Sendable {
    /// Fully qualified service name, e.g. `nkudo.v1.AgentService`.
    public let serviceName: String
    /// The method name, e.g. `Heartbeat`.
    public let methodName: String
    /// The HTTP bindings (the primary one first, then the additional ones).
    public let bindings: [HTTPBinding]
    /// Who may call the RPC.
    public let caller: RPCCaller
    /// An RPC's `idempotency_level` (`google.protobuf.MethodOptions`).
public enum RPCIdempotency: String, Sendable, Hashable {
    /// Not declared: may have side effects.
    case unknown
    /// `NO_SIDE_EFFECTS`: safe; Connect clients may call it with `GET`.
    case noSideEffects
    /// `IDEMPOTENT`: repeating it has the effect of calling it once.
    case idempotent
}

/// How an agent caller's client certificate is checked before the call.
    public let agentCertificateCheck: RPCAgentCertificateCheck
    /// Whether unknown JSON fields of the request are ignored (else rejected).
    public let ignoresUnknownJSONFields: Bool
    /// The method's `idempotency_level` in the contract.
    public let idempotency: RPCIdempotency
    /// The request message type.
    public let requestType: any ProtoMessage.Type
    /// The response message type.
    public let responseType: any ProtoMessage.Type
    /// The method's documentation from the contract.
    public let documentation: String

    /// Creates a method description.
    public init(serviceName: String, methodName: String, bindings: [HTTPBinding], caller: RPCCaller,
                agentCertificateCheck: RPCAgentCertificateCheck = .standard, ignoresUnknownJSONFields: Bool,
                idempotency: RPCIdempotency = .unknown, requestType: any ProtoMessage.Type, responseType: any ProtoMessage.Type, documentation: String = "") {
        self.serviceName = serviceName
        self.methodName = methodName
        self.bindings = bindings
        self.caller = caller
        self.agentCertificateCheck = agentCertificateCheck
        self.ignoresUnknownJSONFields = ignoresUnknownJSONFields
        self.idempotency = idempotency
        self.requestType = requestType
        self.responseType = responseType
        self.documentation = documentation
    }

    /// `<package>.<Service>/<Method>`, the RPC's name in logs and audit events.
    public var fullName: String { "\(serviceName)/\(methodName)" }

    /// The Connect unary path: `/<package>.<Service>/<Method>`.
    public var connectPath: String { "/\(serviceName)/\(methodName)" }

    /// The JSON decoding options of the request.
    public var jsonDecodingOptions: JSONDecodingOptions {
        JSONDecodingOptions(ignoreUnknownFields: ignoresUnknownJSONFields)
    }
}

/// One HTTP binding of an RPC.
public struct HTTPBinding: Sendable, Hashable {
    /// The HTTP method, upper case (`GET`, `POST`, …).
    public let method: String
    /// The path template, e.g. `/tenants/{tenant_id}/sites`.
    public let path: String
    /// `*` when the whole request is the body; empty when there is no body.
    public let body: String
    /// The status of a successful response.
    public let successStatus: Int

    /// Creates a binding.
    public init(method: String, path: String, body: String, successStatus: Int) {
        self.method = method
        self.path = path
        self.body = body
        self.successStatus = successStatus
    }

    /// The names bound by `{name}` segments of the path, in order.
    public var pathParameters: [String] {
        path.split(separator: "/").compactMap { segment in
            segment.hasPrefix("{") && segment.hasSuffix("}") ? String(segment.dropFirst().dropLast()) : nil
        }
    }
}

/// Who may call an RPC.
public enum RPCCaller: String, Sendable, Hashable {
    /// No credentials.
    case none
    /// The operator (`X-Admin-Key`).
    case admin
    /// A tenant (`X-API-Key`).
    case tenant
    /// An enrolled agent (mTLS client certificate).
    case agent
    /// The holder of a one-time enrollment token, carried in the request body.
    case enrollmentToken
}

/// An RPC's `idempotency_level` (`google.protobuf.MethodOptions`).
public enum RPCIdempotency: String, Sendable, Hashable {
    /// Not declared: may have side effects.
    case unknown
    /// `NO_SIDE_EFFECTS`: safe; Connect clients may call it with `GET`.
    case noSideEffects
    /// `IDEMPOTENT`: repeating it has the effect of calling it once.
    case idempotent
}

/// How an agent caller's client certificate is checked before the call
/// (`nkudo.api.agent_certificate_check`).
public enum RPCAgentCertificateCheck: String, Sendable, Hashable {
    /// Unexpired, its serial the agent's current one (or the one the latest renewal
    /// replaced, in grace), of an agent that is not retired.
    case standard
    /// Ours and unexpired; the RPC checks the serial and retirement in its own transaction.
    case serialInTransaction
    /// As ``standard``, but an expired certificate of ours is accepted too.
    case expiredAllowed
}
