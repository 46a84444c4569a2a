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
        let name = layout.schema.fullName
        if depth > limits.maxDepth {
            throw WireError(code: .tooDeep, messageName: name, reason: "messages nested deeper than \(limits.maxDepth) levels")
        }
        var position = 0
        var needsMerging = false
        // One bit per merge key seen in this message (keys may share a bit: then the
        // merger runs for nothing, which is harmless).
        var seen: UInt64 = 0
        while position < bytes.count {
            let key = try varint(bytes, &position, name, nil)
            let number = key >> 3
            guard number > 0, number <= 536_870_911 else {
                throw WireError(code: .malformedBinary, messageName: name, reason: "invalid field number \(number) at offset \(position)")
            }
            guard let wireType = WireType(rawValue: UInt8(key & 7)), wireType != .startGroup, wireType != .endGroup else {
                throw WireError(code: .malformedBinary, messageName: name, reason: "unsupported wire type \(key & 7) for field \(number)")
            }
            let field = layout.fieldByNumber[Int32(number)].map { layout.fields[$0] }
            let fieldName = field?.field.name ?? "field \(number)"
            if let field {
                try check(wireType, for: field, name, fieldName)
                if let key = field.mergeKey {
                    let bit: UInt64 = 1 << UInt64(key & 63)
                    if seen & bit != 0 { needsMerging = true }
                    seen |= bit
                }
            }
            switch wireType {
            case .varint:
                _ = try varint(bytes, &position, name, fieldName)
            case .fixed64:
                try skip(8, bytes, &position, name, fieldName)
            case .fixed32:
                try skip(4, bytes, &position, name, fieldName)
            case .lengthDelimited:
                let length = try varint(bytes, &position, name, fieldName)
                guard length <= UInt64(bytes.count - position) else {
                    throw WireError(code: .malformedBinary, messageName: name, location: fieldName,
                                    reason: "length \(length) runs past the end of the input")
                }
                let start = position
                position += Int(length)
                if let field, let child = field.child {
                    let slice = UnsafeRawBufferPointer(rebasing: bytes[start..<position])
                    if try scan(slice, layout: child, depth: depth + 1) { needsMerging = true }
                }
            case .startGroup, .endGroup:
                break
            }
        }
        return needsMerging
    }

    private func check(_ wireType: WireType, for field: CFieldLayout, _ name: String, _ fieldName: String) throws(WireError) {
        let expected = field.isMap ? .lengthDelimited : field.field.type.wireType
        if wireType == expected { return }
        if case .repeated = field.field.cardinality, expected != .lengthDelimited, wireType == .lengthDelimited {
            return // packed encoding of a repeated scalar
        }
        throw WireError(code: .malformedBinary, messageName: name, location: fieldName,
                        reason: "wrong wire type \(wireType.rawValue) (expected \(expected.rawValue) for \(field.field.type.displayName))")
    }

    private func varint(_ bytes: UnsafeRawBufferPointer, _ position: inout Int, _ name: String, _ fieldName: String?) throws(WireError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard position < bytes.count else {
                throw WireError(code: .malformedBinary, messageName: name, location: fieldName, reason: "truncated varint")
            }
            let byte = bytes[position]
            position += 1
            if shift == 63 && byte > 1 {
                throw WireError(code: .malformedBinary, messageName: name, location: fieldName, reason: "varint longer than 10 bytes")
            }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
    }

    private func skip(_ count: Int, _ bytes: UnsafeRawBufferPointer, _ position: inout Int, _ name: String, _ fieldName: String) throws(WireError) {
        guard bytes.count - position >= count else {
            throw WireError(code: .malformedBinary, messageName: name, location: fieldName, reason: "truncated \(count * 8)-bit value")
        }
        position += count
    }
}
