internal import CProtobufC

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a message that protobuf-c unpacked back into the dynamic form, checking
/// strings (valid UTF-8, no NUL) and timestamps (their range) on the way, in the order the
/// generated decoders check them, so that both refuse a bad input with the same error.
struct CMessageReader {
    func read(_ message: UnsafeRawPointer, layout: CMessageLayout) throws(WireError) -> ProtoFields {
        var fields = ProtoFields(schema: layout.schema)
        for field in layout.fields {
            fields.values[field.schemaIndex] = try read(field, in: message, messageName: layout.schema.fullName)
        }
        if layout.schema.wellKnownType == .timestamp {
            _ = try ProtoTimestamp(protoFields: fields)
        }
        return fields
    }

    private func read(_ field: CFieldLayout, in message: UnsafeRawPointer, messageName: String) throws(WireError) -> ProtoValue? {
        let slot = message + field.offset
        if field.isRepeated {
            let count = (message + field.quantifierOffset).load(as: Int.self)
            guard count > 0, let array = slot.load(as: UnsafeRawPointer?.self) else {
                return field.isMap ? .map([]) : .list([])
            }
            var elements: [ProtoValue] = []
            elements.reserveCapacity(count)
            for position in 0..<count {
                elements.append(try load(field, at: array + position * field.storage.size, messageName: messageName))
            }
            if field.isMap {
                // A key repeated on the wire keeps its last value (map semantics).
                var entries: [ProtoValue.MapEntry] = []
                var positionByKey: [ProtoValue: Int] = [:]
                for case .message(let entry) in elements {
                    let key = entry.values[0] ?? .defaultValue(of: entry.schema.fields[0].type)
                    let value = entry.values[1] ?? .defaultValue(of: entry.schema.fields[1].type)
                    if let position = positionByKey[key] {
                        entries[position].value = value
                    } else {
                        positionByKey[key] = entries.count
                        entries.append(ProtoValue.MapEntry(key: key, value: value))
                    }
                }
                return .map(entries)
            }
            return .list(elements)
        }
        if field.field.oneofIndex != nil {
            let which = (message + field.quantifierOffset).load(as: UInt32.self)
            guard which == UInt32(bitPattern: field.field.number) else { return nil }
        } else if field.hasFlag {
            guard (message + field.quantifierOffset).load(as: Int32.self) != 0 else { return nil }
        } else if field.storage == .message {
            guard slot.load(as: UnsafeRawPointer?.self) != nil else { return nil }
        }
        return try load(field, at: slot, messageName: messageName)
    }

    private func load(_ field: CFieldLayout, at slot: UnsafeRawPointer, messageName: String) throws(WireError) -> ProtoValue {
        switch field.storage {
        case .int32:
            let value = slot.load(as: Int32.self)
            if case .enumeration = field.field.type { return .enumeration(value) }
            return .int32(value)
        case .int64: return .int64(slot.load(as: Int64.self))
        case .uint32: return .uint32(slot.load(as: UInt32.self))
        case .uint64: return .uint64(slot.load(as: UInt64.self))
        case .float: return .float(slot.load(as: Float.self))
        case .double: return .double(slot.load(as: Double.self))
        case .bool: return .bool(slot.load(as: Int32.self) != 0)
        case .binary:
            let data = slot.load(as: ProtobufCBinaryData.self)
            let bytes = UnsafeRawBufferPointer(start: data.data, count: data.len)
            if case .string = field.field.type {
                return .string(try Self.string(bytes, field: field.field.name, messageName: messageName))
            }
            return .bytes(Array(bytes))
        case .message:
            guard let nested = slot.load(as: UnsafeRawPointer?.self), let child = field.child else {
                throw WireError(code: .internalFailure, messageName: messageName, location: field.field.name,
                                reason: "nested message missing after unpacking")
            }
            return .message(try read(nested, layout: child))
        }
    }

    private static func string(_ bytes: UnsafeRawBufferPointer, field: String, messageName: String) throws(WireError) -> String {
        try UTF8Text.string(bytes, messageName: messageName, field: field)
    }
}
