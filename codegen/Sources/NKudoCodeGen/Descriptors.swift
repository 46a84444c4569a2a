public import NKudoWire

// The subset of `google/protobuf/descriptor.proto` and `compiler/plugin.proto` the
// generator reads, written by hand against NKudoWire (the generator cannot generate
// the types it needs to run). Each type wraps its dynamic fields; accessors read them.
// Field numbers are those of the official files. Method options carry our own
// `nkudo.api` extensions as ordinary fields: on the wire an extension is a field.

/// A descriptor message read through its dynamic fields.
public protocol DescriptorMessage: ProtoMessage {
    /// The decoded fields.
    var fields: ProtoFields { get }
    /// Wraps decoded fields.
    init(fields: ProtoFields)
}

extension DescriptorMessage {
    public init() { self.init(fields: ProtoFields(schema: Self.protoMessageSchema)) }
    public init(protoFields: ProtoFields) throws(WireError) { self.init(fields: protoFields) }
    public var protoFields: ProtoFields { fields }

    func string(_ index: Int) -> String { (try? fields.scalar(index, as: String.self)) ?? "" }
    func int32(_ index: Int) -> Int32 { (try? fields.scalar(index, as: Int32.self)) ?? 0 }
    func bool(_ index: Int) -> Bool { (try? fields.scalar(index, as: Bool.self)) ?? false }
    func has(_ index: Int) -> Bool { fields[index] != nil }
    func message<T: ProtoMessage>(_ index: Int) -> T? { try? fields.message(index) }
    func messages<T: ProtoMessage>(_ index: Int) -> [T] { (try? fields.repeatedMessage(index)) ?? [] }
    func strings(_ index: Int) -> [String] { (try? fields.repeatedScalar(index)) ?? [] }
}

/// Shorthand for the schemas below.
private func field(_ number: Int32, _ name: String, _ type: FieldType, _ cardinality: Cardinality = .explicit) -> FieldSchema {
    FieldSchema(number: number, name: name, jsonName: name, type: type, cardinality: cardinality)
}

private let repeated = Cardinality.repeated(packed: false)

/// `google.protobuf.compiler.CodeGeneratorRequest`.
public struct CodeGeneratorRequest: DescriptorMessage {
    public let fields: ProtoFields
    public init(fields: ProtoFields) { self.fields = fields }
    public static let protoMessageSchema = MessageSchema(fullName: "google.protobuf.compiler.CodeGeneratorRequest", fields: [
        field(1, "file_to_generate", .string, repeated),
        field(2, "parameter", .string),
        field(15, "proto_file", .message(FileDescriptorProto.self), repeated),
    ])
    /// The `.proto` files named on protoc's command line.
    public var filesToGenerate: [String] { strings(0) }
    /// The `--nkudo_opt` parameter.
    public var parameter: String { string(1) }
    /// Every file involved, dependencies first.
    public var protoFiles: [FileDescriptorProto] { messages(2) }
}

/// `google.protobuf.compiler.CodeGeneratorRequest` read for the files' serialized
/// descriptors: on the wire a message field is a bytes field, so this view keeps each
/// `proto_file` exactly as protoc encoded it (options and all), for server reflection.
public struct RawCodeGeneratorRequest: DescriptorMessage {
    public let fields: ProtoFields
    public init(fields: ProtoFields) { self.fields = fields }
    public static let protoMessageSchema = MessageSchema(fullName: "google.protobuf.compiler.CodeGeneratorRequest", fields: [
        field(15, "proto_file", .bytes, repeated),
    ])
    /// Every serialized `FileDescriptorProto`, dependencies first.
    public var protoFiles: [[UInt8]] { (try? fields.repeatedScalar(0)) ?? [] }
}

/// `google.protobuf.compiler.CodeGeneratorResponse`.
public struct CodeGeneratorResponse: DescriptorMessage {
    public let fields: ProtoFields
    public init(fields: ProtoFields) { self.fields = fields }
    public static let protoMessageSchema = MessageSchema(fullName: "google.protobuf.compiler.CodeGeneratorResponse", fields: [
        field(1, "error", .string),
        field(2, "supported_features", .uint64),
        field(15, "file", .message(GeneratedFile.self), repeated),
    ])

    /// `FEATURE_PROTO3_OPTIONAL`: the generator understands proto3 `optional`.
    public static let featureProto3Optional: UInt64 = 1

    /// A successful response with these files.
    public init(files: [GeneratedFile]) {
        var fields = ProtoFields(schema: Self.protoMessageSchema)
        fields.setScalar(1, Self.featureProto3Optional)
        fields.setRepeatedMessage(2, files)
        self.init(fields: fields)
    }

    /// A response that makes protoc fail with this message.
    public init(error: String) {
        var fields = ProtoFields(schema: Self.protoMessageSchema)
        fields.setScalar(0, error)
        fields.setScalar(1, Self.featureProto3Optional)
        self.init(fields: fields)
    }

    /// The error, if generation failed.
    public var error: String? { has(0) ? string(0) : nil }
    /// The generated files.
    public var files: [GeneratedFile] { messages(2) }
}

/// `google.protobuf.compiler.CodeGeneratorResponse.File`.
public struct GeneratedFile: DescriptorMessage {
    public let fields: ProtoFields
    public init(fields: ProtoFields) { self.fields = fields }
    public static let protoMessageSchema = MessageSchema(fullName: "google.protobuf.compiler.CodeGeneratorResponse.File", fields: [
        field(1, "name", .string),
        field(15, "content", .string),
    ])

    /// A file to write, relative to the output directory.
    public init(name: String, content: String) {
        var fields = ProtoFields(schema: Self.protoMessageSchema)
        fields.setScalar(0, name)
        fields.setScalar(1, content)
        self.init(fields: fields)
    }

    public var name: String { string(0) }
    public var content: String { string(1) }
}

/// `google.protobuf.FileDescriptorProto`.
public struct FileDescriptorProto: DescriptorMessage {
    public let fields: ProtoFields
    public init(fields: ProtoFields) { self.fields = fields }
    public static let protoMessageSchema = MessageSchema(fullName: "google.protobuf.FileDescriptorProto", fields: [
        field(1, "name", .string),
        field(2, "package", .string),
        field(3, "dependency", .string, repeated),
        field(4, "message_type", .message(DescriptorProto.self), repeated),
        field(5, "enum_type", .message(EnumDescriptorProto.self), repeated),
        field(6, "service", .message(ServiceDescriptorProto.self), repeated),
        field(9, "source_code_info", .message(SourceCodeInfo.self)),
        field(12, "syntax", .string),
    ])
    public var name: String { string(0) }
    public var package: String { string(1) }
    public var messageTypes: [DescriptorProto] { messages(3) }
    public var enumTypes: [EnumDescriptorProto] { messages(4) }
    public var services: [ServiceDescriptorProto] { messages(5) }
    public var sourceCodeInfo: SourceCodeInfo? { message(6) }
    public var syntax: String { string(7) }
}

/// `google.protobuf.DescriptorProto`.
public struct DescriptorProto: DescriptorMessage {
    public let fields: ProtoFields
    public init(fields: ProtoFields) { self.fields = fields }
    public static let protoMessageSchema = MessageSchema(fullName: "google.protobuf.DescriptorProto", fields: [
        field(1, "name", .string),
        field(2, "field", .message(FieldDescriptorProto.self), repeated),
        field(3, "nested_type", .message(DescriptorProto.self), repeated),
        field(4, "enum_type", .message(EnumDescriptorProto.self), repeated),
        field(7, "options", .message(MessageOptions.self)),
        field(8, "oneof_decl", .message(OneofDescriptorProto.self), repeated),
    ])
    public var name: String { string(0) }
    public var fieldDescriptors: [FieldDescriptorProto] { messages(1) }
    public var nestedTypes: [DescriptorProto] { messages(2) }
    public var enumTypes: [EnumDescriptorProto] { messages(3) }
    public var options: MessageOptions? { message(4) }
    public var oneofDecls: [OneofDescriptorProto] { messages(5) }
}

/// `google.protobuf.MessageOptions` (only `map_entry`).
public struct MessageOptions: DescriptorMessage {
    public let fields: ProtoFields
    public init(fields: ProtoFields) { self.fields = fields }
    public static let protoMessageSchema = MessageSchema(fullName: "google.protobuf.MessageOptions", fields: [
        field(7, "map_entry", .bool),
    ])
    public var mapEntry: Bool { bool(0) }
}

/// `google.protobuf.FieldDescriptorProto`.
public struct FieldDescriptorProto: DescriptorMessage {
    public let fields: ProtoFields
    public init(fields: ProtoFields) { self.fields = fields }
    public static let protoMessageSchema = MessageSchema(fullName: "google.protobuf.FieldDescriptorProto", fields: [
        field(1, "name", .string),
        field(3, "number", .int32),
        field(4, "label", .int32),
        field(5, "type", .int32),
        field(6, "type_name", .string),
        field(8, "options", .message(FieldOptions.self)),
        field(9, "oneof_index", .int32),
        field(10, "json_name", .string),
        field(17, "proto3_optional", .bool),
    ])
    public var name: String { string(0) }
    public var number: Int32 { int32(1) }
    /// 1 optional, 2 required, 3 repeated.
    public var label: Int32 { int32(2) }
    /// `FieldDescriptorProto.Type` number (9 string, 11 message, 14 enum, …).
    public var type: Int32 { int32(3) }
    public var typeName: String { string(4) }
    public var options: FieldOptions? { message(5) }
    public var oneofIndex: Int32? { has(6) ? int32(6) : nil }
    public var jsonName: String { string(7) }
    public var proto3Optional: Bool { bool(8) }
}

/// `google.protobuf.FieldOptions` (only `packed`).
public struct FieldOptions: DescriptorMessage {
    public let fields: ProtoFields
    public init(fields: ProtoFields) { self.fields = fields }
    public static let protoMessageSchema = MessageSchema(fullName: "google.protobuf.FieldOptions", fields: [
        field(2, "packed", .bool),
    ])
    public var packed: Bool? { has(0) ? bool(0) : nil }
}

/// `google.protobuf.OneofDescriptorProto`.
public struct OneofDescriptorProto: DescriptorMessage {
    public let fields: ProtoFields
    public init(fields: ProtoFields) { self.fields = fields }
    public static let protoMessageSchema = MessageSchema(fullName: "google.protobuf.OneofDescriptorProto", fields: [
        field(1, "name", .string),
    ])
    public var name: String { string(0) }
}

/// `google.protobuf.EnumDescriptorProto`.
public struct EnumDescriptorProto: DescriptorMessage {
    public let fields: ProtoFields
    public init(fields: ProtoFields) { self.fields = fields }
    public static let protoMessageSchema = MessageSchema(fullName: "google.protobuf.EnumDescriptorProto", fields: [
        field(1, "name", .string),
        field(2, "value", .message(EnumValueDescriptorProto.self), repeated),
    ])
    public var name: String { string(0) }
    public var values: [EnumValueDescriptorProto] { messages(1) }
}

/// `google.protobuf.EnumValueDescriptorProto`.
public struct EnumValueDescriptorProto: DescriptorMessage {
    public let fields: ProtoFields
    public init(fields: ProtoFields) { self.fields = fields }
    public static let protoMessageSchema = MessageSchema(fullName: "google.protobuf.EnumValueDescriptorProto", fields: [
        field(1, "name", .string),
        field(2, "number", .int32),
    ])
    public var name: String { string(0) }
    public var number: Int32 { int32(1) }
}

/// `google.protobuf.ServiceDescriptorProto`.
public struct ServiceDescriptorProto: DescriptorMessage {
    public let fields: ProtoFields
    public init(fields: ProtoFields) { self.fields = fields }
    public static let protoMessageSchema = MessageSchema(fullName: "google.protobuf.ServiceDescriptorProto", fields: [
        field(1, "name", .string),
        field(2, "method", .message(MethodDescriptorProto.self), repeated),
    ])
    public var name: String { string(0) }
    public var methods: [MethodDescriptorProto] { messages(1) }
}

/// `google.protobuf.MethodDescriptorProto`.
public struct MethodDescriptorProto: DescriptorMessage {
    public let fields: ProtoFields
    public init(fields: ProtoFields) { self.fields = fields }
    public static let protoMessageSchema = MessageSchema(fullName: "google.protobuf.MethodDescriptorProto", fields: [
        field(1, "name", .string),
        field(2, "input_type", .string),
        field(3, "output_type", .string),
        field(4, "options", .message(MethodOptions.self)),
        field(5, "client_streaming", .bool),
        field(6, "server_streaming", .bool),
    ])
    public var name: String { string(0) }
    public var inputType: String { string(1) }
    public var outputType: String { string(2) }
    public var options: MethodOptions? { message(3) }
    public var isStreaming: Bool { bool(4) || bool(5) }
}

/// `google.protobuf.MethodOptions` with the `nkudo.api` extensions of `proto/nkudo/api/http.proto`.
public struct MethodOptions: DescriptorMessage {
    public let fields: ProtoFields
    public init(fields: ProtoFields) { self.fields = fields }
    public static let protoMessageSchema = MessageSchema(fullName: "google.protobuf.MethodOptions", fields: [
        field(34, "idempotency_level", .int32),
        field(51001, "http", .message(HttpRuleDescriptor.self)),
        field(51002, "json_unknown_fields", .int32),
        field(51003, "caller", .int32),
        field(51004, "agent_certificate_check", .int32),
    ])
    /// `idempotency_level`: 0 unknown, 1 no side effects, 2 idempotent.
    public var idempotencyLevel: Int32 { int32(0) }
    /// `(nkudo.api.http)`.
    public var http: HttpRuleDescriptor? { message(1) }
    /// `(nkudo.api.json_unknown_fields)`: 2 = ignore.
    public var jsonUnknownFields: Int32 { int32(2) }
    /// `(nkudo.api.caller)`: 1 none, 2 admin, 3 tenant, 4 agent, 5 enrollment token.
    public var caller: Int32 { int32(3) }
    /// `(nkudo.api.agent_certificate_check)`: 1 serial in transaction, 2 expired allowed.
    public var agentCertificateCheck: Int32 { int32(4) }
}

/// `nkudo.api.HttpRule`, as read by the generator.
public struct HttpRuleDescriptor: DescriptorMessage {
    public let fields: ProtoFields
    public init(fields: ProtoFields) { self.fields = fields }
    public static let protoMessageSchema = MessageSchema(fullName: "nkudo.api.HttpRule", fields: [
        field(2, "get", .string),
        field(3, "put", .string),
        field(4, "post", .string),
        field(5, "delete", .string),
        field(6, "patch", .string),
        field(7, "body", .string),
        field(11, "additional_bindings", .message(HttpRuleDescriptor.self), repeated),
        field(12, "success_code", .int32),
    ])
    /// The method and path template of this binding, if one is set.
    public var pattern: (method: String, path: String)? {
        for (index, method) in ["GET", "PUT", "POST", "DELETE", "PATCH"].enumerated() where has(index) {
            return (method, string(index))
        }
        return nil
    }
    public var body: String { string(5) }
    public var additionalBindings: [HttpRuleDescriptor] { messages(6) }
    public var successCode: Int32 { int32(7) }
}

/// `google.protobuf.SourceCodeInfo`: where the comments are.
public struct SourceCodeInfo: DescriptorMessage {
    public let fields: ProtoFields
    public init(fields: ProtoFields) { self.fields = fields }
    public static let protoMessageSchema = MessageSchema(fullName: "google.protobuf.SourceCodeInfo", fields: [
        field(1, "location", .message(SourceLocation.self), repeated),
    ])
    public var locations: [SourceLocation] { messages(0) }
}

/// `google.protobuf.SourceCodeInfo.Location`.
public struct SourceLocation: DescriptorMessage {
    public let fields: ProtoFields
    public init(fields: ProtoFields) { self.fields = fields }
    public static let protoMessageSchema = MessageSchema(fullName: "google.protobuf.SourceCodeInfo.Location", fields: [
        field(1, "path", .int32, .repeated(packed: true)),
        field(3, "leading_comments", .string),
        field(4, "trailing_comments", .string),
    ])
    public var path: [Int32] { (try? fields.repeatedScalar(0)) ?? [] }
    public var leadingComments: String { string(1) }
    public var trailingComments: String { string(2) }
}
