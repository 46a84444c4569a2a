/// A Swift type that holds the values of a scalar or enum field.
public protocol ProtoScalar: Sendable, Hashable {
    /// The value, or nil when the dynamic value is of another kind.
    init?(protoValue: ProtoValue)
    /// The value in dynamic form.
    var protoValue: ProtoValue { get }
    /// The proto3 default (zero) value.
    static var protoDefault: Self { get }
}

extension Int32: ProtoScalar {
    public init?(protoValue: ProtoValue) {
        guard case .int32(let v) = protoValue else { return nil }
        self = v
    }
    public var protoValue: ProtoValue { .int32(self) }
    public static var protoDefault: Int32 { 0 }
}

extension Int64: ProtoScalar {
    public init?(protoValue: ProtoValue) {
        guard case .int64(let v) = protoValue else { return nil }
        self = v
    }
    public var protoValue: ProtoValue { .int64(self) }
    public static var protoDefault: Int64 { 0 }
}

extension UInt32: ProtoScalar {
    public init?(protoValue: ProtoValue) {
        guard case .uint32(let v) = protoValue else { return nil }
        self = v
    }
    public var protoValue: ProtoValue { .uint32(self) }
    public static var protoDefault: UInt32 { 0 }
}

extension UInt64: ProtoScalar {
    public init?(protoValue: ProtoValue) {
        guard case .uint64(let v) = protoValue else { return nil }
        self = v
    }
    public var protoValue: ProtoValue { .uint64(self) }
    public static var protoDefault: UInt64 { 0 }
}

extension Float: ProtoScalar {
    public init?(protoValue: ProtoValue) {
        guard case .float(let v) = protoValue else { return nil }
        self = v
    }
    public var protoValue: ProtoValue { .float(self) }
    public static var protoDefault: Float { 0 }
}

extension Double: ProtoScalar {
    public init?(protoValue: ProtoValue) {
        guard case .double(let v) = protoValue else { return nil }
        self = v
    }
    public var protoValue: ProtoValue { .double(self) }
    public static var protoDefault: Double { 0 }
}

extension Bool: ProtoScalar {
    public init?(protoValue: ProtoValue) {
        guard case .bool(let v) = protoValue else { return nil }
        self = v
    }
    public var protoValue: ProtoValue { .bool(self) }
    public static var protoDefault: Bool { false }
}

extension String: ProtoScalar {
    public init?(protoValue: ProtoValue) {
        guard case .string(let v) = protoValue else { return nil }
        self = v
    }
    public var protoValue: ProtoValue { .string(self) }
    public static var protoDefault: String { "" }
}

extension Array: ProtoScalar where Element == UInt8 {
    public init?(protoValue: ProtoValue) {
        guard case .bytes(let v) = protoValue else { return nil }
        self = v
    }
    public var protoValue: ProtoValue { .bytes(self) }
    public static var protoDefault: [UInt8] { [] }
}
