/// Walks binary protobuf against the message layouts before libprotobuf-c unpacks it,
/// so hostile input fails with an error that names the message and field (protobuf-c
/// only says "no"), and so nesting depth is bounded.
///
/// Checks: tags (field number 0, wire types 3, 4, 6, 7), truncated or over-long
/// varints, lengths past the end, known fields with a wrong wire type, depth. Also
/// notices what ``WireMerger`` must merge before protobuf-c sees it.
struct WireScanner {
    let limits: WireLimits

    /// Validates `bytes`; returns whether a message at some depth holds a singular
    /// message field or a oneof more than once (then ``WireMerger`` rewrites the input).
    func scan(_ bytes: UnsafeRawBufferPointer, layout: CMessageLayout, depth: Int = 1) throws(WireError) -> Bool {
        if depth > limits.maxDepth {
            throw WireError(code: .tooDeep, messageName: layout.schema.fullName,
                            reason: "messages nested deeper than \(limits.maxDepth) levels")
        }
        var position = 0
        var needsMerging = false
        // One bit per merge key seen in this message (keys may share a bit: then the
        // merger runs for nothing, which is harmless).
        var seen: UInt64 = 0
        let count = bytes.count
        // Names are built only for an error (`fieldName`), never on the way.
        while position < count {
            let key = try varint(bytes, &position, layout, nil)
            let number = key >> 3
            guard number > 0, number <= 536_870_911 else {
                throw WireError(code: .malformedBinary, messageName: layout.schema.fullName,
                                reason: "invalid field number \(number) at offset \(position)")
            }
            let rawWireType = UInt8(truncatingIfNeeded: key & 7)
            guard let wireType = WireType(rawValue: rawWireType), wireType != .startGroup, wireType != .endGroup else {
                throw WireError(code: .malformedBinary, messageName: layout.schema.fullName,
                                reason: "unsupported wire type \(key & 7) for field \(number)")
            }
            let entry = layout.scanEntry(number)
            let field = entry.position >= 0 ? FieldRef(number: number, position: Int(entry.position)) : FieldRef(number: number, position: nil)
            if entry.position >= 0 {
                if rawWireType != entry.wireType, !(entry.packable && wireType == .lengthDelimited) {
                    throw wrongWireType(wireType, field: layout.fields[Int(entry.position)], layout)
                }
                if entry.mergeBit != 0 {
                    if seen & entry.mergeBit != 0 { needsMerging = true }
                    seen |= entry.mergeBit
                }
            }
            switch wireType {
            case .varint:
                _ = try varint(bytes, &position, layout, field)
            case .fixed64:
                try skip(8, bytes, &position, layout, field)
            case .fixed32:
                try skip(4, bytes, &position, layout, field)
            case .lengthDelimited:
                let length = try varint(bytes, &position, layout, field)
                guard length <= UInt64(count - position) else {
                    throw WireError(code: .malformedBinary, messageName: layout.schema.fullName, location: field.name(in: layout),
                                    reason: "length \(length) runs past the end of the input")
                }
                let start = position
                position += Int(length)
                if let child = entry.child {
                    let slice = UnsafeRawBufferPointer(rebasing: bytes[start..<position])
                    if try scan(slice, layout: child.takeUnretainedValue(), depth: depth + 1) { needsMerging = true }
                }
            case .startGroup, .endGroup:
                break
            }
        }
        return needsMerging
    }

    /// The field a value belongs to, named only when an error needs it.
    private struct FieldRef {
        var number: UInt64
        /// Position in the layout's fields; nil for an unknown field.
        var position: Int?

        func name(in layout: CMessageLayout) -> String {
            position.map { layout.fields[$0].field.name } ?? "field \(number)"
        }
    }

    private func wrongWireType(_ wireType: WireType, field: CFieldLayout, _ layout: CMessageLayout) -> WireError {
        let expected = field.isMap ? .lengthDelimited : field.field.type.wireType
        return WireError(code: .malformedBinary, messageName: layout.schema.fullName, location: field.field.name,
                         reason: "wrong wire type \(wireType.rawValue) (expected \(expected.rawValue) for \(field.field.type.displayName))")
    }

    @inline(__always)
    private func varint(_ bytes: UnsafeRawBufferPointer, _ position: inout Int, _ layout: CMessageLayout, _ field: FieldRef?) throws(WireError) -> UInt64 {
        // One-byte varints (most keys and small values) first.
        if position < bytes.count, bytes[position] < 0x80 {
            defer { position += 1 }
            return UInt64(bytes[position])
        }
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard position < bytes.count else {
                throw WireError(code: .malformedBinary, messageName: layout.schema.fullName, location: field?.name(in: layout),
                                reason: "truncated varint")
            }
            let byte = bytes[position]
            position += 1
            if shift == 63 && byte > 1 {
                throw WireError(code: .malformedBinary, messageName: layout.schema.fullName, location: field?.name(in: layout),
                                reason: "varint longer than 10 bytes")
            }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
    }

    @inline(__always)
    private func skip(_ count: Int, _ bytes: UnsafeRawBufferPointer, _ position: inout Int, _ layout: CMessageLayout, _ field: FieldRef) throws(WireError) {
        guard bytes.count - position >= count else {
            throw WireError(code: .malformedBinary, messageName: layout.schema.fullName, location: field.name(in: layout),
                            reason: "truncated \(count * 8)-bit value")
        }
        position += count
    }
}
