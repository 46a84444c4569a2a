/// A Swift type that holds the values of a scalar or enum field.
public protocol ProtoScalar: Sendable, Hashable {
    /// The value, or nil when the dynamic value is of another kind.
    init?(protoValue: ProtoValue)
    /// The value in dynamic form.
    var protoValue: ProtoValue { get }
    /// The proto3 default (zero) value.
    static var protoDefault: Self { get }
    /// Stores the value in C memory for libprotobuf-c to pack (see ``BinaryFieldWriter``).
    func storeBinary(_ slot: BinaryValueSlot) throws(WireError)
    /// Loads a value from C memory that libprotobuf-c unpacked (see ``BinaryFieldReader``).
    init(binaryValue value: BinaryValue) throws(WireError)
    /// Writes the value as proto3 JSON (see ``JSONFieldWriter``).
    func writeJSONValue(to writer: inout JSONFieldWriter)
}

extension Int32: ProtoScalar {
    public init?(protoValue: ProtoValue) {
        guard case .int32(let v) = protoValue else { return nil }
        self = v
    }
    public var protoValue: ProtoValue { .int32(self) }
    public static var protoDefault: Int32 { 0 }
    public func storeBinary(_ slot: BinaryValueSlot) { slot.store(self) }
    public init(binaryValue value: BinaryValue) { self = value.load(as: Int32.self) }
    public func writeJSONValue(to writer: inout JSONFieldWriter) { writer.output.integer(Int64(self)) }
}

extension Int64: ProtoScalar {
    public init?(protoValue: ProtoValue) {
        guard case .int64(let v) = protoValue else { return nil }
        self = v
    }
    public var protoValue: ProtoValue { .int64(self) }
    public static var protoDefault: Int64 { 0 }
    public func storeBinary(_ slot: BinaryValueSlot) { slot.store(self) }
    public init(binaryValue value: BinaryValue) { self = value.load(as: Int64.self) }
    public func writeJSONValue(to writer: inout JSONFieldWriter) { writer.output.byte(UInt8(ascii: "\"")); writer.output.integer(self); writer.output.byte(UInt8(ascii: "\"")) }
}

extension UInt32: ProtoScalar {
    public init?(protoValue: ProtoValue) {
        guard case .uint32(let v) = protoValue else { return nil }
        self = v
    }
    public var protoValue: ProtoValue { .uint32(self) }
    public static var protoDefault: UInt32 { 0 }
    public func storeBinary(_ slot: BinaryValueSlot) { slot.store(self) }
    public init(binaryValue value: BinaryValue) { self = value.load(as: UInt32.self) }
    public func writeJSONValue(to writer: inout JSONFieldWriter) { writer.output.unsigned(UInt64(self)) }
}

extension UInt64: ProtoScalar {
    public init?(protoValue: ProtoValue) {
        guard case .uint64(let v) = protoValue else { return nil }
        self = v
    }
    public var protoValue: ProtoValue { .uint64(self) }
    public static var protoDefault: UInt64 { 0 }
    public func storeBinary(_ slot: BinaryValueSlot) { slot.store(self) }
    public init(binaryValue value: BinaryValue) { self = value.load(as: UInt64.self) }
    public func writeJSONValue(to writer: inout JSONFieldWriter) { writer.output.byte(UInt8(ascii: "\"")); writer.output.unsigned(self); writer.output.byte(UInt8(ascii: "\"")) }
}

extension Float: ProtoScalar {
    public init?(protoValue: ProtoValue) {
        guard case .float(let v) = protoValue else { return nil }
        self = v
    }
    public var protoValue: ProtoValue { .float(self) }
    public static var protoDefault: Float { 0 }
    public func storeBinary(_ slot: BinaryValueSlot) { slot.store(self) }
    public init(binaryValue value: BinaryValue) { self = value.load(as: Float.self) }
    public func writeJSONValue(to writer: inout JSONFieldWriter) { writer.output.floating(Double(self), text: description) }
}

extension Double: ProtoScalar {
    public init?(protoValue: ProtoValue) {
        guard case .double(let v) = protoValue else { return nil }
        self = v
    }
    public var protoValue: ProtoValue { .double(self) }
    public static var protoDefault: Double { 0 }
    public func storeBinary(_ slot: BinaryValueSlot) { slot.store(self) }
    public init(binaryValue value: BinaryValue) { self = value.load(as: Double.self) }
    public func writeJSONValue(to writer: inout JSONFieldWriter) { writer.output.floating(self, text: description) }
}

extension Bool: ProtoScalar {
    public init?(protoValue: ProtoValue) {
        guard case .bool(let v) = protoValue else { return nil }
        self = v
    }
    public var protoValue: ProtoValue { .bool(self) }
    public static var protoDefault: Bool { false }
    public func storeBinary(_ slot: BinaryValueSlot) { slot.store(Int32(self ? 1 : 0)) }
    public init(binaryValue value: BinaryValue) { self = value.load(as: Int32.self) != 0 }
    public func writeJSONValue(to writer: inout JSONFieldWriter) { writer.output.raw(self ? "true" : "false") }
}

extension String: ProtoScalar {
    public init?(protoValue: ProtoValue) {
        guard case .string(let v) = protoValue else { return nil }
        self = v
    }
    public var protoValue: ProtoValue { .string(self) }
    public static var protoDefault: String { "" }
    public func storeBinary(_ slot: BinaryValueSlot) throws(WireError) { try slot.store(string: self) }
    public init(binaryValue value: BinaryValue) throws(WireError) { self = try value.loadString() }
    public func writeJSONValue(to writer: inout JSONFieldWriter) { writer.output.string(self) }
}

extension Array: ProtoScalar where Element == UInt8 {
    public init?(protoValue: ProtoValue) {
        guard case .bytes(let v) = protoValue else { return nil }
        self = v
    }
    public var protoValue: ProtoValue { .bytes(self) }
    public static var protoDefault: [UInt8] { [] }
    public func storeBinary(_ slot: BinaryValueSlot) throws(WireError) { try slot.store(bytes: self) }
    public init(binaryValue value: BinaryValue) { self = value.loadBytes() }
    public func writeJSONValue(to writer: inout JSONFieldWriter) { writer.output.base64(self) }
}
