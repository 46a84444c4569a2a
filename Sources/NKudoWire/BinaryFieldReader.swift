internal import CProtobufC

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads the fields of one message straight out of the C struct that libprotobuf-c
/// unpacked, through the offsets of the message's layout, checking strings (valid
/// UTF-8, no NUL) on the way.
///
/// Generated messages call it from ``ProtoMessage/init(binaryFields:)`` with each field's
/// schema index, in field-number order so that the first error is the one the dynamic
/// form would raise.
public struct BinaryFieldReader {
    unowned(unsafe) let layout: CMessageLayout
    let message: UnsafeRawPointer

    init(layout: CMessageLayout, message: UnsafeRawPointer) {
        self.layout = layout
        self.message = message
    }

    // The generic entry points are inlinable so that the generated code gets them
    // specialized for its field types; the memory work stays in the helpers below them.

    /// A scalar or enum without presence.
    @inlinable
    public func scalar<T: ProtoScalar>(_ index: Int, as type: T.Type = T.self) throws(WireError) -> T {
        try T(binaryValue: value(index))
    }

    /// A scalar or enum with presence, or the member of a oneof; nil when absent.
    @inlinable
    public func optionalScalar<T: ProtoScalar>(_ index: Int, as type: T.Type = T.self) throws(WireError) -> T? {
        guard let value = presentValue(index) else { return nil }
        return try T(binaryValue: value)
    }

    /// A repeated scalar or enum.
    @inlinable
    public func repeatedScalar<T: ProtoScalar>(_ index: Int, as type: T.Type = T.self) throws(WireError) -> [T] {
        let array = array(index)
        var result: [T] = []
        result.reserveCapacity(array.count)
        for position in 0..<array.count {
            result.append(try T(binaryValue: array.element(position)))
        }
        return result
    }

    /// A singular message, or the message member of a oneof; nil when absent.
    @inlinable
    public func message<T: ProtoMessage>(_ index: Int, as type: T.Type = T.self) throws(WireError) -> T? {
        guard let nested = try nestedMessage(index) else { return nil }
        return try T(binaryFields: nested)
    }

    /// A repeated message.
    @inlinable
    public func repeatedMessage<T: ProtoMessage>(_ index: Int, as type: T.Type = T.self) throws(WireError) -> [T] {
        let array = array(index)
        var result: [T] = []
        result.reserveCapacity(array.count)
        for position in 0..<array.count {
            result.append(try T(binaryFields: array.message(position)))
        }
        return result
    }

    @usableFromInline
    func value(_ index: Int) -> BinaryValue {
        BinaryValue(layout: layout, index: index, pointer: message + layout.slots[index].offset)
    }

    /// The value of a field with presence (or a oneof member); nil when absent.
    @usableFromInline
    func presentValue(_ index: Int) -> BinaryValue? {
        let slot = layout.slots[index]
        guard isPresent(slot) else { return nil }
        return BinaryValue(layout: layout, index: index, pointer: message + slot.offset)
    }

    /// The reader of a nested message field; nil when absent.
    @usableFromInline
    func nestedMessage(_ index: Int) throws(WireError) -> BinaryFieldReader? {
        let slot = layout.slots[index]
        guard isPresent(slot) else { return nil }
        guard let nested = (message + slot.offset).load(as: UnsafeRawPointer?.self) else { throw missingNested(index) }
        return BinaryFieldReader(layout: slot.child!.takeUnretainedValue(), message: nested)
    }

    /// The elements of a repeated field (none when the count is 0 or the array missing).
    @usableFromInline
    func array(_ index: Int) -> BinaryArrayReader {
        let slot = layout.slots[index]
        let count = (message + slot.quantifierOffset).load(as: Int.self)
        guard count > 0, let elements = (message + slot.offset).load(as: UnsafeRawPointer?.self) else {
            return BinaryArrayReader(field: self, index: index, elements: nil, count: 0, stride: 0, child: nil)
        }
        return BinaryArrayReader(field: self, index: index, elements: elements, count: count, stride: slot.storage.size,
                                 child: slot.child?.takeUnretainedValue())
    }

    /// A map; a key repeated on the wire keeps its last value.
    public func map<K: ProtoScalar, V: ProtoScalar>(_ index: Int, as type: [K: V].Type = [K: V].self) throws(WireError) -> [K: V] {
        let slot = layout.slots[index]
        let count = (message + slot.quantifierOffset).load(as: Int.self)
        guard count > 0, let array = (message + slot.offset).load(as: UnsafeRawPointer?.self) else { return [:] }
        let entryLayout = slot.child!.takeUnretainedValue()
        var result: [K: V] = [:]
        result.reserveCapacity(count)
        for position in 0..<count {
            guard let entry = (array + position * MemoryLayout<UnsafeRawPointer>.stride).load(as: UnsafeRawPointer?.self) else {
                throw missingNested(index)
            }
            let reader = BinaryFieldReader(layout: entryLayout, message: entry)
            let key = try reader.optionalScalar(0, as: K.self) ?? K.protoDefault
            let value = try reader.optionalScalar(1, as: V.self) ?? V.protoDefault
            result[key] = value
        }
        return result
    }

    @inline(__always)
    private func isPresent(_ slot: CSlot) -> Bool {
        switch slot.presence {
        case .hasFlag:
            return (message + slot.quantifierOffset).load(as: Int32.self) != 0
        case .oneofMember:
            return (message + slot.quantifierOffset).load(as: UInt32.self) == UInt32(bitPattern: slot.number)
        case .pointer:
            return (message + slot.offset).load(as: UnsafeRawPointer?.self) != nil
        case .implicit, .repeated:
            return true
        }
    }

    func missingNested(_ index: Int) -> WireError {
        WireError(code: .internalFailure, messageName: layout.schema.fullName, location: layout.schema.fields[index].name,
                  reason: "nested message missing after unpacking")
    }

    /// The message in dynamic form (the default of ``ProtoMessage/init(binaryFields:)``).
    func read() throws(WireError) -> ProtoFields {
        try CMessageReader().read(message, layout: layout)
    }
}

/// The elements of a repeated field that libprotobuf-c unpacked.
@usableFromInline
struct BinaryArrayReader {
    let field: BinaryFieldReader
    let index: Int
    let elements: UnsafeRawPointer?
    @usableFromInline
    let count: Int
    let stride: Int
    unowned(unsafe) let child: CMessageLayout?

    @usableFromInline
    func element(_ position: Int) -> BinaryValue {
        BinaryValue(layout: field.layout, index: index, pointer: elements! + position * stride)
    }

    /// The reader of element `position` of a repeated message field.
    @usableFromInline
    func message(_ position: Int) throws(WireError) -> BinaryFieldReader {
        guard let nested = (elements! + position * stride).load(as: UnsafeRawPointer?.self) else {
            throw field.missingNested(index)
        }
        return BinaryFieldReader(layout: child!, message: nested)
    }
}

/// One value of a field in C memory that libprotobuf-c unpacked.
public struct BinaryValue {
    unowned(unsafe) let layout: CMessageLayout
    /// The field's schema index (names it in errors).
    let index: Int
    let pointer: UnsafeRawPointer

    @inline(__always)
    func load<T: BitwiseCopyable>(as type: T.Type) -> T {
        pointer.load(as: T.self)
    }

    /// The bytes of a `string` or `bytes` value.
    var binaryData: UnsafeRawBufferPointer {
        let data = pointer.load(as: ProtobufCBinaryData.self)
        return UnsafeRawBufferPointer(start: data.data, count: data.len)
    }

    func loadString() throws(WireError) -> String {
        try UTF8Text.string(binaryData, messageName: layout.schema.fullName, field: layout.schema.fields[index].name)
    }

    func loadBytes() -> [UInt8] {
        Array(binaryData)
    }
}
