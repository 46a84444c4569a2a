/// The generator's intermediate model: what the `.proto` files declare, resolved to
/// Swift names and ready to render. Built by ``ModelBuilder`` from descriptors.
public struct ContractFile: Sendable, Hashable {
    /// The `.proto` path relative to the proto root, e.g. `nkudo/v1/agent.proto`.
    public var protoPath: String
    public var package: String
    public var messages: [MessageModel]
    public var enums: [EnumModel]
    public var services: [ServiceModel]
}

/// One message (with its nested types).
public struct MessageModel: Sendable, Hashable {
    public var fullName: String
    /// The Swift type name within its parent (e.g. `State` for `Execution.State`).
    public var swiftName: String
    /// The fully qualified Swift name (e.g. `Execution.State`).
    public var qualifiedSwiftName: String
    public var documentation: String
    public var fields: [FieldModel]
    public var oneofs: [OneofModel]
    public var messages: [MessageModel]
    public var enums: [EnumModel]
}

/// One field of a message.
public struct FieldModel: Sendable, Hashable {
    public var name: String
    public var jsonName: String
    public var number: Int32
    public var swiftName: String
    public var documentation: String
    public var type: FieldTypeModel
    public var cardinality: FieldCardinality
    /// Index into the message's (real, non-synthetic) oneofs.
    public var oneofIndex: Int?
}

/// The type of a field's values.
public enum FieldTypeModel: Sendable, Hashable {
    /// A scalar: the proto name (`int32`, `string`, …).
    case scalar(String)
    /// An enum: its qualified Swift name.
    case enumeration(String)
    /// A message: its qualified Swift name.
    case message(String)
}

/// Presence and multiplicity.
public enum FieldCardinality: Sendable, Hashable {
    case implicit
    case explicit
    case repeated(packed: Bool)
    /// A map with this key type; the field's type is the value type.
    case map(key: FieldTypeModel)
}

/// A oneof and its Swift enum.
public struct OneofModel: Sendable, Hashable {
    public var name: String
    public var swiftTypeName: String
    public var swiftPropertyName: String
}

/// One enum.
public struct EnumModel: Sendable, Hashable {
    public var fullName: String
    public var swiftName: String
    public var qualifiedSwiftName: String
    public var documentation: String
    public var values: [EnumValueModel]
}

/// One enum value.
public struct EnumValueModel: Sendable, Hashable {
    public var name: String
    public var number: Int32
    public var swiftName: String
    public var documentation: String
}

/// One service and its RPCs.
public struct ServiceModel: Sendable, Hashable {
    public var fullName: String
    public var name: String
    public var documentation: String
    public var methods: [MethodModel]
}

/// One RPC with its HTTP bindings.
public struct MethodModel: Sendable, Hashable {
    public var name: String
    public var swiftName: String
    public var documentation: String
    public var inputSwiftName: String
    public var outputSwiftName: String
    public var bindings: [BindingModel]
    /// `none`, `admin`, `tenant`, `agent` or `enrollmentToken`.
    public var caller: String
    /// `standard`, `serialInTransaction` or `expiredAllowed`.
    public var agentCertificateCheck: String
    public var ignoresUnknownJSONFields: Bool
    /// `unknown`, `noSideEffects` or `idempotent` (the method's `idempotency_level`).
    public var idempotency: String = "unknown"
}

/// One HTTP binding.
public struct BindingModel: Sendable, Hashable {
    public var method: String
    public var path: String
    public var body: String
    public var successStatus: Int
}
