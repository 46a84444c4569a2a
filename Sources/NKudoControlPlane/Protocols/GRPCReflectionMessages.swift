import NKudoContract

// `grpc.reflection.v1` (and the identical `v1alpha`) messages, and the subset of
// `google.protobuf.FileDescriptorProto` the reflection service reads to find symbols.

/// `grpc.reflection.v1.ServerReflectionRequest`.
struct ServerReflectionRequest: StandardMessage {
    var fields: ProtoFields
    init(fields: ProtoFields) { self.fields = fields }
    static let protoMessageSchema = MessageSchema(fullName: "grpc.reflection.v1.ServerReflectionRequest", fields: [
        standardField(1, "host", .string),
        standardField(3, "file_by_filename", .string, oneof: 0),
        standardField(4, "file_containing_symbol", .string, oneof: 0),
        standardField(5, "file_containing_extension", .message(ExtensionRequest.self), oneof: 0),
        standardField(6, "all_extension_numbers_of_type", .string, oneof: 0),
        standardField(7, "list_services", .string, oneof: 0),
    ], oneofs: ["message_request"])

    var fileByFilename: String? { string(1) }
    var fileContainingSymbol: String? { string(2) }
    var fileContainingExtension: ExtensionRequest? { try? fields.message(3) }
    var allExtensionNumbersOfType: String? { string(4) }
    var listServices: String? { string(5) }
}

/// `grpc.reflection.v1.ExtensionRequest`.
struct ExtensionRequest: StandardMessage {
    var fields: ProtoFields
    init(fields: ProtoFields) { self.fields = fields }
    static let protoMessageSchema = MessageSchema(fullName: "grpc.reflection.v1.ExtensionRequest", fields: [
        standardField(1, "containing_type", .string),
        standardField(2, "extension_number", .int32),
    ])
    var containingType: String { string(0) ?? "" }
    var extensionNumber: Int32 { (try? fields.scalar(1, as: Int32.self)) ?? 0 }
}

/// `grpc.reflection.v1.ServerReflectionResponse`.
struct ServerReflectionResponse: StandardMessage {
    var fields: ProtoFields
    init(fields: ProtoFields) { self.fields = fields }
    static let protoMessageSchema = MessageSchema(fullName: "grpc.reflection.v1.ServerReflectionResponse", fields: [
        standardField(1, "valid_host", .string),
        standardField(2, "original_request", .message(ServerReflectionRequest.self), .explicit),
        standardField(4, "file_descriptor_response", .message(FileDescriptorResponse.self), oneof: 0),
        standardField(5, "all_extension_numbers_response", .message(ExtensionNumberResponse.self), oneof: 0),
        standardField(6, "list_services_response", .message(ListServiceResponse.self), oneof: 0),
        standardField(7, "error_response", .message(ReflectionErrorResponse.self), oneof: 0),
    ], oneofs: ["message_response"])

    /// The answer to `request`: one of the four responses.
    init(answering request: ServerReflectionRequest, host: String) {
        self.init()
        fields.setScalar(0, host)
        fields.setMessage(1, request)
    }

    var fileDescriptorResponse: FileDescriptorResponse? {
        get { try? fields.message(2) }
        set { fields.setMessage(2, newValue) }
    }
    var allExtensionNumbersResponse: ExtensionNumberResponse? {
        get { try? fields.message(3) }
        set { fields.setMessage(3, newValue) }
    }
    var listServicesResponse: ListServiceResponse? {
        get { try? fields.message(4) }
        set { fields.setMessage(4, newValue) }
    }
    var errorResponse: ReflectionErrorResponse? {
        get { try? fields.message(5) }
        set { fields.setMessage(5, newValue) }
    }
}

/// `grpc.reflection.v1.FileDescriptorResponse`.
struct FileDescriptorResponse: StandardMessage {
    var fields: ProtoFields
    init(fields: ProtoFields) { self.fields = fields }
    static let protoMessageSchema = MessageSchema(fullName: "grpc.reflection.v1.FileDescriptorResponse", fields: [
        standardField(1, "file_descriptor_proto", .bytes, .repeated(packed: false)),
    ])
    init(files: [[UInt8]]) {
        self.init()
        fields.setRepeatedScalar(0, files)
    }
    var files: [[UInt8]] { (try? fields.repeatedScalar(0)) ?? [] }
}

/// `grpc.reflection.v1.ExtensionNumberResponse`.
struct ExtensionNumberResponse: StandardMessage {
    var fields: ProtoFields
    init(fields: ProtoFields) { self.fields = fields }
    static let protoMessageSchema = MessageSchema(fullName: "grpc.reflection.v1.ExtensionNumberResponse", fields: [
        standardField(1, "base_type_name", .string),
        standardField(2, "extension_number", .int32, .repeated(packed: true)),
    ])
    init(baseTypeName: String, numbers: [Int32]) {
        self.init()
        fields.setScalar(0, baseTypeName)
        fields.setRepeatedScalar(1, numbers)
    }
}

/// `grpc.reflection.v1.ListServiceResponse`.
struct ListServiceResponse: StandardMessage {
    var fields: ProtoFields
    init(fields: ProtoFields) { self.fields = fields }
    static let protoMessageSchema = MessageSchema(fullName: "grpc.reflection.v1.ListServiceResponse", fields: [
        standardField(1, "service", .message(ServiceResponse.self), .repeated(packed: false)),
    ])
    init(names: [String]) {
        self.init()
        fields.setRepeatedMessage(0, names.map(ServiceResponse.init(name:)))
    }
    var names: [String] { ((try? fields.repeatedMessage(0, as: ServiceResponse.self)) ?? []).map(\.name) }
}

/// `grpc.reflection.v1.ServiceResponse`.
struct ServiceResponse: StandardMessage {
    var fields: ProtoFields
    init(fields: ProtoFields) { self.fields = fields }
    static let protoMessageSchema = MessageSchema(fullName: "grpc.reflection.v1.ServiceResponse", fields: [
        standardField(1, "name", .string),
    ])
    init(name: String) {
        self.init()
        fields.setScalar(0, name)
    }
    var name: String { string(0) ?? "" }
}

/// `grpc.reflection.v1.ErrorResponse`.
struct ReflectionErrorResponse: StandardMessage {
    var fields: ProtoFields
    init(fields: ProtoFields) { self.fields = fields }
    static let protoMessageSchema = MessageSchema(fullName: "grpc.reflection.v1.ErrorResponse", fields: [
        standardField(1, "error_code", .int32),
        standardField(2, "error_message", .string),
    ])
    init(code: Int32, message: String) {
        self.init()
        fields.setScalar(0, code)
        fields.setScalar(1, message)
    }
    var code: Int32 { (try? fields.scalar(0, as: Int32.self)) ?? 0 }
}

/// The parts of `google.protobuf.FileDescriptorProto` that name symbols.
struct FileSymbols: StandardMessage {
    var fields: ProtoFields
    init(fields: ProtoFields) { self.fields = fields }
    static let protoMessageSchema = MessageSchema(fullName: "google.protobuf.FileDescriptorProto", fields: [
        standardField(1, "name", .string),
        standardField(2, "package", .string),
        standardField(3, "dependency", .string, .repeated(packed: false)),
        standardField(4, "message_type", .message(MessageSymbols.self), .repeated(packed: false)),
        standardField(5, "enum_type", .message(NamedSymbol.self), .repeated(packed: false)),
        standardField(6, "service", .message(ServiceSymbols.self), .repeated(packed: false)),
        standardField(7, "extension", .message(ExtensionSymbol.self), .repeated(packed: false)),
    ])
    var name: String { string(0) ?? "" }
    var package: String { string(1) ?? "" }
    var dependencies: [String] { (try? fields.repeatedScalar(2)) ?? [] }
    var messages: [MessageSymbols] { (try? fields.repeatedMessage(3)) ?? [] }
    var enums: [NamedSymbol] { (try? fields.repeatedMessage(4)) ?? [] }
    var services: [ServiceSymbols] { (try? fields.repeatedMessage(5)) ?? [] }
    var extensions: [ExtensionSymbol] { (try? fields.repeatedMessage(6)) ?? [] }
}

/// `google.protobuf.DescriptorProto`: name, nested messages and enums, extensions.
struct MessageSymbols: StandardMessage {
    var fields: ProtoFields
    init(fields: ProtoFields) { self.fields = fields }
    static let protoMessageSchema = MessageSchema(fullName: "google.protobuf.DescriptorProto", fields: [
        standardField(1, "name", .string),
        standardField(3, "nested_type", .message(MessageSymbols.self), .repeated(packed: false)),
        standardField(4, "enum_type", .message(NamedSymbol.self), .repeated(packed: false)),
        standardField(6, "extension", .message(ExtensionSymbol.self), .repeated(packed: false)),
    ])
    var name: String { string(0) ?? "" }
    var nested: [MessageSymbols] { (try? fields.repeatedMessage(1)) ?? [] }
    var enums: [NamedSymbol] { (try? fields.repeatedMessage(2)) ?? [] }
    var extensions: [ExtensionSymbol] { (try? fields.repeatedMessage(3)) ?? [] }
}

/// A descriptor read for its name only (`EnumDescriptorProto`, `MethodDescriptorProto`).
struct NamedSymbol: StandardMessage {
    var fields: ProtoFields
    init(fields: ProtoFields) { self.fields = fields }
    static let protoMessageSchema = MessageSchema(fullName: "google.protobuf.EnumDescriptorProto", fields: [
        standardField(1, "name", .string),
    ])
    var name: String { string(0) ?? "" }
}

/// `google.protobuf.ServiceDescriptorProto`: name and methods.
struct ServiceSymbols: StandardMessage {
    var fields: ProtoFields
    init(fields: ProtoFields) { self.fields = fields }
    static let protoMessageSchema = MessageSchema(fullName: "google.protobuf.ServiceDescriptorProto", fields: [
        standardField(1, "name", .string),
        standardField(2, "method", .message(NamedSymbol.self), .repeated(packed: false)),
    ])
    var name: String { string(0) ?? "" }
    var methods: [NamedSymbol] { (try? fields.repeatedMessage(1)) ?? [] }
}

/// `google.protobuf.FieldDescriptorProto` of an extension: name, number, extended type.
struct ExtensionSymbol: StandardMessage {
    var fields: ProtoFields
    init(fields: ProtoFields) { self.fields = fields }
    static let protoMessageSchema = MessageSchema(fullName: "google.protobuf.FieldDescriptorProto", fields: [
        standardField(1, "name", .string),
        standardField(2, "extendee", .string),
        standardField(3, "number", .int32),
    ])
    var name: String { string(0) ?? "" }
    var extendee: String { string(1) ?? "" }
    var number: Int32 { (try? fields.scalar(2, as: Int32.self)) ?? 0 }
}
