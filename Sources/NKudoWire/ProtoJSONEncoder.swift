import Synchronization

/// Canonical proto3 JSON output: proto field names, fields without presence printed
/// with their defaults (`false`, `0`, `""`, `[]`, `{}`), fields with presence only
/// when set, 64-bit integers as strings, enums by name, bytes as base64.
enum ProtoJSONEncoder {
    static func encode<Message: ProtoMessage>(_ message: Message) throws(WireError) -> [UInt8] {
        let schema = Message.protoMessageSchema
        let hint = schema.jsonSizeHint.load(ordering: .relaxed)
        var writer = JSONFieldWriter(capacity: max(256, hint + hint / 8), schema: schema)
        try message.writeJSON(to: &writer)
        schema.jsonSizeHint.store(writer.output.bytes.count, ordering: .relaxed)
        return writer.output.bytes
    }

    /// The encoding of a message in dynamic form (the reference the generated code is
    /// tested against).
    static func encode(_ fields: ProtoFields) throws(WireError) -> [UInt8] {
        var writer = JSONWriter()
        try writeMessage(fields, into: &writer)
        return writer.bytes
    }

    /// A message in dynamic form (what messages without generated code write).
    static func writeMessage(_ fields: ProtoFields, into writer: inout JSONWriter) throws(WireError) {
        let schema = fields.schema
        if schema.wellKnownType == .timestamp {
            try writer.timestamp(try ProtoTimestamp(protoFields: fields))
            return
        }
        writer.byte(UInt8(ascii: "{"))
        var first = true
        for (index, field) in schema.fields.enumerated() {
            var value = fields.values[index]
            if value == nil {
                if field.hasPresence { continue }
                switch field.cardinality {
                case .repeated: value = .list([])
                case .map: value = .map([])
                case .implicit, .explicit: value = .defaultValue(of: field.type)
                }
            }
            if !first { writer.byte(UInt8(ascii: ",")) }
            first = false
            writer.raw(schema.jsonKeys[index])
            try writeField(value!, field: field, into: &writer, messageName: schema.fullName)
        }
        writer.byte(UInt8(ascii: "}"))
    }

    private static func writeField(_ value: ProtoValue, field: FieldSchema, into writer: inout JSONWriter, messageName: String) throws(WireError) {
        switch value {
        case .list(let elements):
            writer.byte(UInt8(ascii: "["))
            for (position, element) in elements.enumerated() {
                if position > 0 { writer.byte(UInt8(ascii: ",")) }
                try writeSingle(element, type: field.type, into: &writer, messageName: messageName)
            }
            writer.byte(UInt8(ascii: "]"))
        case .map(let entries):
            writer.byte(UInt8(ascii: "{"))
            for (position, entry) in entries.enumerated() {
                if position > 0 { writer.byte(UInt8(ascii: ",")) }
                writer.string(mapKey(entry.key))
                writer.byte(UInt8(ascii: ":"))
                try writeSingle(entry.value, type: field.type, into: &writer, messageName: messageName)
            }
            writer.byte(UInt8(ascii: "}"))
        default:
            try writeSingle(value, type: field.type, into: &writer, messageName: messageName)
        }
    }

    static func mapKey(_ key: ProtoValue) -> String {
        switch key {
        case .string(let v): return v
        case .int32(let v): return String(v)
        case .int64(let v): return String(v)
        case .uint32(let v): return String(v)
        case .uint64(let v): return String(v)
        case .bool(let v): return v ? "true" : "false"
        default: return ""
        }
    }

    private static func writeSingle(_ value: ProtoValue, type: FieldType, into writer: inout JSONWriter, messageName: String) throws(WireError) {
        switch value {
        case .int32(let v): writer.integer(Int64(v))
        case .uint32(let v): writer.unsigned(UInt64(v))
        case .int64(let v): writer.string(String(v))
        case .uint64(let v): writer.string(String(v))
        case .float(let v): writer.floating(Double(v), text: v.description)
        case .double(let v): writer.floating(v, text: v.description)
        case .bool(let v): writer.raw(v ? "true" : "false")
        case .string(let v): writer.string(v)
        case .bytes(let v): writer.base64(v)
        case .enumeration(let number):
            if case .enumeration(let schema) = type, let name = schema.name(of: number) {
                writer.string(name)
            } else {
                writer.integer(Int64(number))
            }
        case .message(let nested):
            try writeMessage(nested, into: &writer)
        case .list, .map:
            throw WireError(code: .invalidValue, messageName: messageName, reason: "nested collection in a singular field")
        }
    }
}
