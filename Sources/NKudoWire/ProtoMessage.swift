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
    /// Writes the fields into the C struct libprotobuf-c packs. Generated messages write
    /// each field directly; the default goes through ``protoFields``.
    func writeBinaryFields(to writer: BinaryFieldWriter) throws(WireError)
    /// Reads the message out of the C struct libprotobuf-c unpacked. Generated messages
    /// read each field directly; the default goes through ``init(protoFields:)``.
    init(binaryFields reader: BinaryFieldReader) throws(WireError)
    /// Writes the message as canonical proto3 JSON. Generated messages write each field
    /// directly; the default goes through ``protoFields``.
    func writeJSON(to writer: inout JSONFieldWriter) throws(WireError)
    /// Reads the message from proto3 JSON. Generated messages read each field directly;
    /// the default goes through ``init(protoFields:)``.
    init(jsonReader reader: inout JSONFieldReader) throws(WireError)
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

    public func storeBinary(_ slot: BinaryValueSlot) { slot.store(rawValue) }

    public init(binaryValue value: BinaryValue) { self.init(rawValue: value.load(as: Int32.self)) }

    public func writeJSONValue(to writer: inout JSONFieldWriter) {
        if let name = Self.protoEnumSchema.name(of: rawValue) {
            writer.output.string(name)
        } else {
            writer.output.integer(Int64(rawValue))
        }
    }
}

extension ProtoMessage {
    public func writeBinaryFields(to writer: BinaryFieldWriter) throws(WireError) {
        try writer.write(protoFields)
    }

    public init(binaryFields reader: BinaryFieldReader) throws(WireError) {
        try self.init(protoFields: reader.read())
    }

    public func writeJSON(to writer: inout JSONFieldWriter) throws(WireError) {
        try writer.write(protoFields)
    }

    public init(jsonReader reader: inout JSONFieldReader) throws(WireError) {
        try self.init(protoFields: reader.dynamicMessage(Self.protoMessageSchema))
    }

    /// The binary protobuf encoding, packed by libprotobuf-c.
    public func serializedBytes() throws(WireError) -> [UInt8] {
        try BinaryCodec.encode(self)
    }

    /// Decodes binary protobuf (unpacked by libprotobuf-c) after validating it against
    /// the schema and the limits.
    public init(serializedBytes bytes: [UInt8], limits: WireLimits = .default) throws(WireError) {
        self = try BinaryCodec.decode(bytes, as: Self.self, limits: limits)
    }

    /// The canonical proto3 JSON encoding (proto field names, fields without presence
    /// printed with their defaults).
    public func jsonBytes() throws(WireError) -> [UInt8] {
        try ProtoJSONEncoder.encode(self)
    }

    /// The canonical proto3 JSON encoding as a string.
    public func jsonString() throws(WireError) -> String {
        String(decoding: try jsonBytes(), as: UTF8.self)
    }

    /// Decodes proto3 JSON: both field spellings, `null` as default, 64-bit integers as
    /// strings or numbers, enums by name or number.
    public init(jsonBytes bytes: [UInt8], options: JSONDecodingOptions = .init(), limits: WireLimits = .default) throws(WireError) {
        self = try ProtoJSONDecoder.decode(bytes, as: Self.self, options: options, limits: limits)
    }

    /// Decodes proto3 JSON from a string.
    public init(jsonString: String, options: JSONDecodingOptions = .init(), limits: WireLimits = .default) throws(WireError) {
        try self.init(jsonBytes: Array(jsonString.utf8), options: options, limits: limits)
    }
}
