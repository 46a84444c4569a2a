/// A message type of the contract. Generated code conforms every message to it.
///
/// The runtime encodes and decodes through the dynamic form (``ProtoFields``) and the
/// schema; the conformance only converts between the typed struct and that form.
public protocol ProtoMessage: Sendable, Hashable {
    /// The schema of this message type (one shared instance per type).
    static var protoMessageSchema: MessageSchema { get }
    /// Creates the message from its dynamic form.
    init(protoFields: ProtoFields) throws(WireError)
    /// The message in dynamic form.
    var protoFields: ProtoFields { get }
}

/// An enum type of the contract. Generated enums are structs over the raw number, so
/// values this build does not know survive a round trip.
public protocol ProtoEnum: ProtoScalar, RawRepresentable where RawValue == Int32 {
    /// The schema of this enum type.
    static var protoEnumSchema: EnumSchema { get }
    /// Creates the enum value with this number (known or not).
    init(rawValue: Int32)
}

extension ProtoEnum {
    public init?(protoValue: ProtoValue) {
        guard case .enumeration(let number) = protoValue else { return nil }
        self.init(rawValue: number)
    }

    public var protoValue: ProtoValue { .enumeration(rawValue) }

    public static var protoDefault: Self { Self(rawValue: 0) }

    /// The proto name of the value, or nil when this build does not know the number.
    public var protoName: String? { Self.protoEnumSchema.name(of: rawValue) }
}

extension ProtoMessage {
    /// The binary protobuf encoding, packed by libprotobuf-c.
    public func serializedBytes() throws(WireError) -> [UInt8] {
        try BinaryCodec.encode(protoFields)
    }

    /// Decodes binary protobuf (unpacked by libprotobuf-c) after validating it against
    /// the schema and the limits.
    public init(serializedBytes bytes: [UInt8], limits: WireLimits = .default) throws(WireError) {
        let fields = try BinaryCodec.decode(bytes, schema: Self.protoMessageSchema, limits: limits)
        try self.init(protoFields: fields)
    }

    /// The canonical proto3 JSON encoding (proto field names, fields without presence
    /// printed with their defaults).
    public func jsonBytes() throws(WireError) -> [UInt8] {
        try ProtoJSONEncoder.encode(protoFields)
    }

    /// The canonical proto3 JSON encoding as a string.
    public func jsonString() throws(WireError) -> String {
        String(decoding: try jsonBytes(), as: UTF8.self)
    }

    /// Decodes proto3 JSON: both field spellings, `null` as default, 64-bit integers as
    /// strings or numbers, enums by name or number.
    public init(jsonBytes bytes: [UInt8], options: JSONDecodingOptions = .init(), limits: WireLimits = .default) throws(WireError) {
        let fields = try ProtoJSONDecoder.decode(bytes, schema: Self.protoMessageSchema, options: options, limits: limits)
        try self.init(protoFields: fields)
    }

    /// Decodes proto3 JSON from a string.
    public init(jsonString: String, options: JSONDecodingOptions = .init(), limits: WireLimits = .default) throws(WireError) {
        try self.init(jsonBytes: Array(jsonString.utf8), options: options, limits: limits)
    }
}
