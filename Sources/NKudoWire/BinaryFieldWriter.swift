internal import CProtobufC

/// Writes the fields of one message straight into the C struct that libprotobuf-c packs,
/// through the offsets of the message's layout; strings, arrays and nested messages go
/// into the encoding's arena.
///
/// Generated messages call it from ``ProtoMessage/writeBinaryFields(to:)`` with each
/// field's schema index (its position in ``MessageSchema/fields``), in field-number order
/// so that the first error is the one the dynamic form would raise.
public struct BinaryFieldWriter {
    // Plain pointers (no reference counting per field): the arena's state, the layout
    // (immortal) and its slots.
    let arena: UnsafeMutablePointer<CArena.State>
    let layoutReference: Unmanaged<CMessageLayout>
    let slots: UnsafeMutablePointer<CSlot>
    let message: UnsafeMutableRawPointer

    var layout: CMessageLayout { layoutReference.takeUnretainedValue() }

    /// A zeroed C message of `layout` in the arena, its descriptor set.
    static func newMessage(_ layout: Unmanaged<CMessageLayout>, in arena: UnsafeMutablePointer<CArena.State>) throws(WireError) -> BinaryFieldWriter {
        let (size, descriptor, slots) = layout._withUnsafeGuaranteedRef { ($0.size, $0.descriptor, $0.slots) }
        let message = try CArena.allocate(arena, size)
        message.storeBytes(of: UnsafePointer(descriptor), as: UnsafePointer<ProtobufCMessageDescriptor>.self)
        return BinaryFieldWriter(arena: arena, layoutReference: layout, slots: slots, message: message)
    }

    static func newMessage(_ layout: CMessageLayout, in arena: CArena) throws(WireError) -> BinaryFieldWriter {
        try newMessage(Unmanaged.passUnretained(layout), in: arena.state)
    }

    // The generic entry points are inlinable so that the generated code gets them
    // specialized for its field types (no generic metadata or witness lookups per field);
    // the memory work stays in the non-generic helpers below them.

    /// A scalar or enum without presence (a zero value is not packed).
    @inlinable
    public func scalar<T: ProtoScalar>(_ index: Int, _ value: T) throws(WireError) {
        try value.storeBinary(valueSlot(index))
    }

    /// A scalar or enum with presence, or the member of a oneof (nil = absent).
    @inlinable
    public func optionalScalar<T: ProtoScalar>(_ index: Int, _ value: T?) throws(WireError) {
        guard let value else { return }
        try value.storeBinary(presentValueSlot(index))
    }

    /// A repeated scalar or enum.
    @inlinable
    public func repeatedScalar<T: ProtoScalar>(_ index: Int, _ values: [T]) throws(WireError) {
        if values.isEmpty { return }
        let array = try array(index, count: values.count)
        for position in values.indices {
            try values[position].storeBinary(array.element(position))
        }
    }

    /// A singular message, or the message member of a oneof (nil = absent).
    @inlinable
    public func message<T: ProtoMessage>(_ index: Int, _ value: T?) throws(WireError) {
        guard let value else { return }
        try value.writeBinaryFields(to: nestedMessage(index))
    }

    /// A repeated message.
    @inlinable
    public func repeatedMessage<T: ProtoMessage>(_ index: Int, _ values: [T]) throws(WireError) {
        if values.isEmpty { return }
        let array = try array(index, count: values.count)
        // Through the buffer, so each element is borrowed where it lies, not copied.
        var failure: WireError?
        values.withUnsafeBufferPointer { elements in
            for position in elements.indices {
                do throws(WireError) {
                    try elements[position].writeBinaryFields(to: array.message(position))
                } catch {
                    failure = error
                    return
                }
            }
        }
        if let failure { throw failure }
    }

    @usableFromInline
    func valueSlot(_ index: Int) -> BinaryValueSlot {
        BinaryValueSlot(arena: arena, layoutReference: layoutReference, index: index, pointer: message + slots[index].offset)
    }

    @usableFromInline
    func presentValueSlot(_ index: Int) -> BinaryValueSlot {
        let slot = slots[index]
        markPresent(slot)
        return BinaryValueSlot(arena: arena, layoutReference: layoutReference, index: index, pointer: message + slot.offset)
    }

    /// A new C message for the field, its pointer (and the oneof case) set.
    @usableFromInline
    func nestedMessage(_ index: Int) throws(WireError) -> BinaryFieldWriter {
        let slot = slots[index]
        markPresent(slot)
        let nested = try Self.newMessage(slot.child!, in: arena)
        (message + slot.offset).storeBytes(of: nested.message, as: UnsafeMutableRawPointer.self)
        return nested
    }

    /// The element array of a repeated field, its count and pointer set.
    @usableFromInline
    func array(_ index: Int, count: Int) throws(WireError) -> BinaryArrayWriter {
        let slot = slots[index]
        let stride = slot.storage.size
        let elements = try CArena.allocate(arena, stride * count)
        setArray(slot, elements, count: count)
        return BinaryArrayWriter(field: self, index: index, elements: elements, stride: stride, child: slot.child)
    }

    /// A map; entries are written in key order so the encoding is deterministic.
    public func map<K: ProtoScalar & Comparable, V: ProtoScalar>(_ index: Int, _ value: [K: V]) throws(WireError) {
        if value.isEmpty { return }
        let slot = slots[index]
        let entryLayout = slot.child!
        let array = try CArena.allocate(arena, MemoryLayout<UnsafeMutableRawPointer>.stride * value.count)
        for (position, entry) in value.sorted(by: { $0.key < $1.key }).enumerated() {
            let nested = try Self.newMessage(entryLayout, in: arena)
            try nested.optionalScalar(0, entry.key)
            try nested.optionalScalar(1, entry.value)
            (array + position * MemoryLayout<UnsafeMutableRawPointer>.stride)
                .storeBytes(of: nested.message, as: UnsafeMutableRawPointer.self)
        }
        setArray(slot, array, count: value.count)
    }

    @inline(__always)
    private func markPresent(_ slot: CSlot) {
        switch slot.presence {
        case .hasFlag:
            (message + slot.quantifierOffset).storeBytes(of: Int32(1), as: Int32.self)
        case .oneofMember:
            (message + slot.quantifierOffset).storeBytes(of: UInt32(bitPattern: slot.number), as: UInt32.self)
        case .implicit, .pointer, .repeated:
            break
        }
    }

    @inline(__always)
    private func setArray(_ slot: CSlot, _ array: UnsafeMutableRawPointer, count: Int) {
        (message + slot.quantifierOffset).storeBytes(of: count, as: Int.self)
        (message + slot.offset).storeBytes(of: array, as: UnsafeMutableRawPointer.self)
    }

    /// The fields of a message in dynamic form (the default of
    /// ``ProtoMessage/writeBinaryFields(to:)``).
    func write(_ fields: ProtoFields) throws(WireError) {
        try CMessageWriter(arena: arena).write(fields, layout: layout, into: message)
    }
}

/// The elements of a repeated field being laid out.
@usableFromInline
struct BinaryArrayWriter {
    let field: BinaryFieldWriter
    let index: Int
    let elements: UnsafeMutableRawPointer
    let stride: Int
    let child: Unmanaged<CMessageLayout>?

    @usableFromInline
    func element(_ position: Int) -> BinaryValueSlot {
        BinaryValueSlot(arena: field.arena, layoutReference: field.layoutReference, index: index, pointer: elements + position * stride)
    }

    /// A new C message as element `position`.
    @usableFromInline
    func message(_ position: Int) throws(WireError) -> BinaryFieldWriter {
        let nested = try BinaryFieldWriter.newMessage(child!, in: field.arena)
        (elements + position * stride).storeBytes(of: nested.message, as: UnsafeMutableRawPointer.self)
        return nested
    }
}

/// Where one value of a field goes in C memory while a message is laid out for packing.
public struct BinaryValueSlot {
    let arena: UnsafeMutablePointer<CArena.State>
    let layoutReference: Unmanaged<CMessageLayout>
    /// The field's schema index (names it in errors).
    let index: Int
    let pointer: UnsafeMutableRawPointer

    @inline(__always)
    func store<T: BitwiseCopyable>(_ value: T) {
        pointer.storeBytes(of: value, as: T.self)
    }

    /// UTF-8 without NUL (which protobuf-c cannot carry), copied into the arena.
    func store(string: String) throws(WireError) {
        let stored: Result<ProtobufCBinaryData, CopyFailure>
        if let contiguous = string.utf8.withContiguousStorageIfAvailable({ copy(UnsafeRawBufferPointer($0), refusingNUL: true) }) {
            stored = contiguous
        } else {
            var string = string
            stored = string.withUTF8 { utf8 in copy(UnsafeRawBufferPointer(utf8), refusingNUL: true) }
        }
        switch stored {
        case .success(let data):
            store(data)
        case .failure(let error):
            throw error == .nul
                ? WireError(code: .invalidString, messageName: layoutReference.takeUnretainedValue().schema.fullName,
                            location: layoutReference.takeUnretainedValue().schema.fields[index].name,
                            reason: "string contains a NUL character, which protobuf-c cannot carry")
                : WireError(code: .internalFailure, messageName: "", reason: "out of memory")
        }
    }

    /// Bytes copied into the arena.
    func store(bytes: [UInt8]) throws(WireError) {
        let stored = bytes.withUnsafeBytes { copy($0, refusingNUL: false) }
        switch stored {
        case .success(let data): store(data)
        case .failure: throw WireError(code: .internalFailure, messageName: "", reason: "out of memory")
        }
    }

    private enum CopyFailure: Error { case nul, outOfMemory }

    private func copy(_ bytes: UnsafeRawBufferPointer, refusingNUL: Bool) -> Result<ProtobufCBinaryData, CopyFailure> {
        guard let source = bytes.baseAddress, !bytes.isEmpty else { return .success(ProtobufCBinaryData(len: 0, data: nil)) }
        let count = bytes.count
        guard let block = CArena.allocateOrNil(arena, count) else { return .failure(.outOfMemory) }
        if !refusingNUL {
            block.copyMemory(from: source, byteCount: count)
        } else {
            // Copied 8 bytes at a time, each word checked for a zero byte on the way.
            var position = 0
            while count - position >= 8 {
                let word = (source + position).loadUnaligned(as: UInt64.self)
                if (word &- 0x0101_0101_0101_0101) & ~word & 0x8080_8080_8080_8080 != 0 { return .failure(.nul) }
                (block + position).storeBytes(of: word, as: UInt64.self)
                position += 8
            }
            while position < count {
                let byte = source.load(fromByteOffset: position, as: UInt8.self)
                if byte == 0 { return .failure(.nul) }
                block.storeBytes(of: byte, toByteOffset: position, as: UInt8.self)
                position += 1
            }
        }
        return .success(ProtobufCBinaryData(len: count, data: block.assumingMemoryBound(to: UInt8.self)))
    }
}
