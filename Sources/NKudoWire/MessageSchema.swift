import Synchronization

/// The description of one protobuf message type that the runtime needs to encode and
/// decode it: its fields in declaration order and its oneofs.
///
/// Generated code creates one instance per message type (a `static let`), so the
/// runtime can key per-type caches (such as the libprotobuf-c descriptor) on its identity.
public final class MessageSchema: Sendable {
    /// Fully qualified proto name, e.g. `nkudo.v1.Tenant`.
    public let fullName: String
    /// Fields in declaration order; field indices used by ``ProtoFields`` refer to this array.
    public let fields: [FieldSchema]
    /// Names of the message's oneofs; ``FieldSchema/oneofIndex`` refers to this array.
    public let oneofs: [String]
    /// Set for the well-known types whose JSON form is special.
    public let wellKnownType: WellKnownType?

    let fieldIndexByName: [String: Int]
    let fieldIndexByNumber: [Int32: Int]
    /// Per field, its JSON key as written: `"name":`.
    let jsonKeys: [[UInt8]]
    /// Per field, the UTF-8 of its proto name (what JSON keys are matched against first).
    let nameBytes: [[UInt8]]
    /// Bytes of the last JSON encoding of this type: the next output reserves that much.
    let jsonSizeHint = Atomic<Int>(0)

    /// Creates the schema of a message type.
    public init(fullName: String, fields: [FieldSchema], oneofs: [String] = [], wellKnownType: WellKnownType? = nil) {
        self.fullName = fullName
        self.fields = fields
        self.oneofs = oneofs
        self.wellKnownType = wellKnownType
        var byName: [String: Int] = [:]
        var byNumber: [Int32: Int] = [:]
        for (index, field) in fields.enumerated() {
            byName[field.name] = index
            byName[field.jsonName] = byName[field.jsonName] ?? index
            byNumber[field.number] = index
        }
        self.fieldIndexByName = byName
        self.fieldIndexByNumber = byNumber
        self.nameBytes = fields.map { Array($0.name.utf8) }
        self.jsonKeys = fields.map { field in
            var writer = JSONWriter(capacity: field.name.utf8.count + 3)
            writer.string(field.name)
            writer.byte(UInt8(ascii: ":"))
            return writer.bytes
        }
    }

    /// The index of the field with this proto name or JSON name, if any.
    public func fieldIndex(named name: String) -> Int? {
        fieldIndexByName[name]
    }

    /// The simple name (last component of ``fullName``).
    public var name: Substring {
        fullName.split(separator: ".").last ?? Substring(fullName)
    }
}

/// Well-known types with a special JSON mapping.
public enum WellKnownType: Sendable {
    /// `google.protobuf.Timestamp`: an RFC 3339 string in JSON.
    case timestamp
}

/// One field of a message.
public struct FieldSchema: Sendable {
    /// The field number on the wire.
    public let number: Int32
    /// The proto (snake_case) name, used as the JSON key on output.
    public let name: String
    /// The lowerCamelCase JSON name, accepted on input next to ``name``.
    public let jsonName: String
    /// The type of one value of the field (the value type for maps).
    public let type: FieldType
    /// Presence and multiplicity.
    public let cardinality: Cardinality
    /// The oneof this field belongs to (index into ``MessageSchema/oneofs``).
    public let oneofIndex: Int?

    /// Creates a field description.
    public init(number: Int32, name: String, jsonName: String, type: FieldType, cardinality: Cardinality, oneofIndex: Int? = nil) {
        self.number = number
        self.name = name
        self.jsonName = jsonName
        self.type = type
        self.cardinality = cardinality
        self.oneofIndex = oneofIndex
    }

    /// Whether absence and the default value are distinguishable for this field.
    var hasPresence: Bool {
        switch cardinality {
        case .explicit: return true
        case .implicit: return type.isMessage || oneofIndex != nil
        case .repeated, .map: return false
        }
    }
}

/// Presence and multiplicity of a field.
public enum Cardinality: Sendable, Equatable {
    public static func == (lhs: Cardinality, rhs: Cardinality) -> Bool {
        switch (lhs, rhs) {
        case (.implicit, .implicit), (.explicit, .explicit): return true
        case (.repeated(let a), .repeated(let b)): return a == b
        case (.map(let a), .map(let b)): return a.displayName == b.displayName
        default: return false
        }
    }

    /// A proto3 singular field without presence (default values are not sent).
    case implicit
    /// A field with explicit presence: proto3 `optional`, proto2 `optional`.
    case explicit
    /// A repeated field; `packed` for proto3 numeric repeated fields.
    case repeated(packed: Bool)
    /// A map field with keys of this scalar type; ``FieldSchema/type`` is the value type.
    case map(key: FieldType)
}

/// The type of a field's values.
public enum FieldType: Sendable {
    case int32, int64, uint32, uint64, sint32, sint64
    case fixed32, fixed64, sfixed32, sfixed64
    case float, double, bool, string, bytes
    /// An enum; its values are kept as raw numbers, known or not.
    case enumeration(EnumSchema)
    /// A nested message type.
    case message(any ProtoMessage.Type)

    var isMessage: Bool {
        if case .message = self { return true }
        return false
    }

    /// The wire type a value of this type is encoded with (unpacked).
    var wireType: WireType {
        switch self {
        case .int32, .int64, .uint32, .uint64, .sint32, .sint64, .bool, .enumeration: return .varint
        case .fixed64, .sfixed64, .double: return .fixed64
        case .fixed32, .sfixed32, .float: return .fixed32
        case .string, .bytes, .message: return .lengthDelimited
        }
    }

    /// A short name for error messages.
    var displayName: String {
        switch self {
        case .int32: return "int32"
        case .int64: return "int64"
        case .uint32: return "uint32"
        case .uint64: return "uint64"
        case .sint32: return "sint32"
        case .sint64: return "sint64"
        case .fixed32: return "fixed32"
        case .fixed64: return "fixed64"
        case .sfixed32: return "sfixed32"
        case .sfixed64: return "sfixed64"
        case .float: return "float"
        case .double: return "double"
        case .bool: return "bool"
        case .string: return "string"
        case .bytes: return "bytes"
        case .enumeration(let schema): return schema.fullName
        case .message(let type): return type.protoMessageSchema.fullName
        }
    }
}

/// Protobuf wire types.
enum WireType: UInt8 {
    case varint = 0
    case fixed64 = 1
    case lengthDelimited = 2
    case startGroup = 3
    case endGroup = 4
    case fixed32 = 5
}

/// The description of an enum type: its values by name and number.
public final class EnumSchema: Sendable {
    /// Fully qualified proto name, e.g. `nkudo.v1.Execution.State`.
    public let fullName: String
    /// The values in declaration order.
    public let values: [(name: String, number: Int32)]
    let numberByName: [String: Int32]
    let nameByNumber: [Int32: String]

    /// Creates the schema of an enum type.
    public init(fullName: String, values: [(name: String, number: Int32)]) {
        self.fullName = fullName
        self.values = values
        var byName: [String: Int32] = [:]
        var byNumber: [Int32: String] = [:]
        for value in values {
            byName[value.name] = value.number
            if byNumber[value.number] == nil { byNumber[value.number] = value.name }
        }
        self.numberByName = byName
        self.nameByNumber = byNumber
    }

    /// The value's name, or nil for a number the schema does not know.
    public func name(of number: Int32) -> String? { nameByNumber[number] }

    /// The number of the value with this name.
    public func number(of name: String) -> Int32? { numberByName[name] }
}
