/// Rewrites validated binary input so that protobuf-c sees every singular message field
/// and every oneof at most once per message, merged as the protobuf encoding spec says.
///
/// The spec merges repeated occurrences of a singular message field as if by
/// `MergeFrom`, which is parsing the concatenation of their payloads; a oneof keeps its
/// last member, and a message member merges its occurrences since the oneof last
/// switched. protobuf-c (1.4.1, unchanged up to 1.5.2) does its own merging and gets
/// it wrong: `merge_messages` rejects the input when the message type has a oneof set
/// in neither occurrence (it looks up field number 0), and drops a oneof's empty string
/// or bytes member; `parse_oneof_member` replaces a repeated message member instead of
/// merging it. Given the merged input, protobuf-c never merges nor switches a oneof.
///
/// Only input that needs it is rewritten (``WireScanner`` says which); the rest, nearly
/// all, is unpacked as it is.
enum WireMerger {
    /// `bytes` with every such field and oneof merged into its last occurrence, at any
    /// depth; nil when nothing needed merging. `bytes` must have passed ``WireScanner``.
    static func merged(_ bytes: UnsafeRawBufferPointer, layout: CMessageLayout) -> [UInt8]? {
        guard let occurrences = occurrences(in: bytes, layout: layout) else { return nil }
        var lastOfKey: [Int: Int] = [:]
        for (index, occurrence) in occurrences.enumerated() {
            if let key = occurrence.field.flatMap({ layout.fields[$0].mergeKey }) {
                lastOfKey[key] = index
            }
        }
        var changed = false
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count)
        for (index, occurrence) in occurrences.enumerated() {
            guard let position = occurrence.field, let child = layout.fields[position].child, occurrence.lengthSize > 0 else {
                if let key = occurrence.field.flatMap({ layout.fields[$0].mergeKey }), lastOfKey[key] != index {
                    changed = true // an earlier value of a scalar oneof member: the last one wins
                } else {
                    output.append(contentsOf: bytes[occurrence.start..<occurrence.end])
                }
                continue
            }
            var payload = Array(bytes[occurrence.payload])
            if let key = layout.fields[position].mergeKey {
                guard lastOfKey[key] == index else {
                    changed = true // merged into the last occurrence, or a oneof member switched away from
                    continue
                }
                // Earlier occurrences of this field, back to the oneof's last other member.
                var parts: [Range<Int>] = []
                for earlier in occurrences[..<index].reversed() {
                    guard let other = earlier.field, layout.fields[other].mergeKey == key else { continue }
                    if other != position { break }
                    parts.append(earlier.payload)
                }
                if !parts.isEmpty {
                    changed = true
                    payload = parts.reversed().flatMap { bytes[$0] } + payload
                }
            }
            if let inner = payload.withUnsafeBytes({ merged($0, layout: child) }) {
                changed = true
                payload = inner
            }
            output.append(contentsOf: bytes[occurrence.start..<occurrence.payload.lowerBound - occurrence.lengthSize])
            appendVarint(UInt64(payload.count), to: &output)
            output.append(contentsOf: payload)
        }
        return changed ? output : nil
    }

    /// One field on the wire: `start..<end` in all, the length prefix (message fields)
    /// just before `payload`.
    private struct Occurrence {
        var start: Int
        var end: Int
        var payload: Range<Int>
        var lengthSize: Int
        /// Position in the layout's fields; nil for an unknown field.
        var field: Int?
    }

    private static func occurrences(in bytes: UnsafeRawBufferPointer, layout: CMessageLayout) -> [Occurrence]? {
        var result: [Occurrence] = []
        var position = 0
        while position < bytes.count {
            let start = position
            guard let key = varint(bytes, &position) else { return nil }
            let field = layout.fieldByNumber[Int32(truncatingIfNeeded: key >> 3)]
            var lengthSize = 0
            let payloadStart: Int
            switch key & 7 {
            case 0:
                payloadStart = position
                guard varint(bytes, &position) != nil else { return nil }
            case 1:
                payloadStart = position
                position += 8
            case 5:
                payloadStart = position
                position += 4
            case 2:
                let lengthStart = position
                guard let length = varint(bytes, &position), length <= UInt64(bytes.count - position) else { return nil }
                lengthSize = position - lengthStart
                payloadStart = position
                position += Int(length)
            default:
                return nil
            }
            guard position <= bytes.count else { return nil }
            result.append(Occurrence(start: start, end: position, payload: payloadStart..<position,
                                     lengthSize: lengthSize, field: field))
        }
        return result
    }

    private static func varint(_ bytes: UnsafeRawBufferPointer, _ position: inout Int) -> UInt64? {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while position < bytes.count, shift < 64 {
            let byte = bytes[position]
            position += 1
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
        return nil
    }

    private static func appendVarint(_ value: UInt64, to output: inout [UInt8]) {
        var value = value
        while value >= 0x80 {
            output.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        output.append(UInt8(value))
    }
}
