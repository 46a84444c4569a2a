/// One value of a message field in the runtime's dynamic form: what the binary and
/// JSON codecs read and write, and what generated messages convert to and from.
public enum ProtoValue: Sendable, Hashable {
    case int32(Int32)
    case int64(Int64)
    case uint32(UInt32)
    case uint64(UInt64)
    case float(Float)
    case double(Double)
    case bool(Bool)
    case string(String)
    case bytes([UInt8])
    /// An enum value by number (known to the schema or not).
    case enumeration(Int32)
    case message(ProtoFields)
    /// The elements of a repeated field.
    case list([ProtoValue])
    /// The entries of a map field, in a stable order.
    case map([MapEntry])

    /// One key/value pair of a map field.
    public struct MapEntry: Sendable, Hashable {
        public var key: ProtoValue
        public var value: ProtoValue

        /// Creates a map entry.
        public init(key: ProtoValue, value: ProtoValue) {
            self.key = key
            self.value = value
        }
    }

    /// The default (zero) value of a singular field of this type.
    static func defaultValue(of type: FieldType) -> ProtoValue {
        switch type {
        case .int32, .sint32, .sfixed32: return .int32(0)
        case .int64, .sint64, .sfixed64: return .int64(0)
        case .uint32, .fixed32: return .uint32(0)
        case .uint64, .fixed64: return .uint64(0)
        case .float: return .float(0)
        case .double: return .double(0)
        case .bool: return .bool(false)
        case .string: return .string("")
        case .bytes: return .bytes([])
        case .enumeration: return .enumeration(0)
        case .message(let type): return .message(ProtoFields(schema: type.protoMessageSchema))
        }
    }

    /// Whether this is the default value of its type (what proto3 leaves off the wire).
    var isDefault: Bool {
        switch self {
        case .int32(let v): return v == 0
        case .int64(let v): return v == 0
        case .uint32(let v): return v == 0
        case .uint64(let v): return v == 0
        case .float(let v): return v.bitPattern == 0
        case .double(let v): return v.bitPattern == 0
        case .bool(let v): return !v
        case .string(let v): return v.isEmpty
        case .bytes(let v): return v.isEmpty
        case .enumeration(let v): return v == 0
        case .message: return false
        case .list(let v): return v.isEmpty
        case .map(let v): return v.isEmpty
        }
    }
}

/// The fields of one message in dynamic form, indexed like ``MessageSchema/fields``.
///
/// `nil` marks an absent field. Generated messages convert to and from this form; the
/// codecs work on it with the schema alone.
public struct ProtoFields: Sendable, Hashable {
    /// The schema the values follow.
    public let schema: MessageSchema
    /// One slot per field of ``schema``.
    public var values: [ProtoValue?]

    /// An empty message of this schema (every field absent).
    public init(schema: MessageSchema) {
        self.schema = schema
        self.values = Array(repeating: nil, count: schema.fields.count)
    }

    /// The value at a field index.
    public subscript(index: Int) -> ProtoValue? {
        get { values[index] }
        set { values[index] = newValue }
    }

    public static func == (lhs: ProtoFields, rhs: ProtoFields) -> Bool {
        lhs.schema === rhs.schema && lhs.values == rhs.values
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(ObjectIdentifier(schema))
        hasher.combine(values)
    }
}
