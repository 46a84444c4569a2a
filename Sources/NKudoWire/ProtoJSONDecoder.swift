import Foundation

/// proto3 JSON input: proto or lowerCamelCase names, `null` as the default, integers
/// as numbers or strings, enums by name or number, RFC 3339 timestamps, base64 bytes
/// (standard or URL-safe), unknown fields rejected or ignored. Errors name the JSON path.
enum ProtoJSONDecoder {
    /// Checks the syntax in one pass (the tree parser's errors), then reads the message
    /// straight from the bytes (``JSONFieldReader``).
    static func decode<Message: ProtoMessage>(_ bytes: [UInt8], as type: Message.Type, options: JSONDecodingOptions,
                                              limits: WireLimits) throws(WireError) -> Message {
        let schema = Message.protoMessageSchema
        if bytes.count > limits.maxBytes {
            throw WireError(code: .tooLarge, messageName: schema.fullName,
                            reason: "\(bytes.count) bytes exceed the limit of \(limits.maxBytes)")
        }
        let result = bytes.withUnsafeBytes { buffer in
            Result { () throws(WireError) -> Message in
                do throws(JSONParser.SyntaxError) {
                    try JSONParser.validate(buffer, maxDepth: limits.maxDepth)
                } catch {
                    throw WireError(code: error.tooDeep ? .tooDeep : .malformedJSON, messageName: schema.fullName,
                                    location: "offset \(error.offset)", reason: "invalid JSON: \(error.reason)")
                }
                var reader = JSONFieldReader(bytes: buffer, rootName: schema.fullName,
                                             ignoreUnknown: options.ignoreUnknownFields, schema: schema)
                if reader.skipNull() {
                    return try Message(protoFields: ProtoFields(schema: schema))
                }
                return try Message(jsonReader: &reader)
            }
        }
        return try result.get()
    }

    /// The dynamic form of a JSON document through a ``JSONValue`` tree (the reference
    /// the generated code is tested against).
    static func decode(_ bytes: [UInt8], schema: MessageSchema, options: JSONDecodingOptions, limits: WireLimits) throws(WireError) -> ProtoFields {
        if bytes.count > limits.maxBytes {
            throw WireError(code: .tooLarge, messageName: schema.fullName,
                            reason: "\(bytes.count) bytes exceed the limit of \(limits.maxBytes)")
        }
        let parsed = bytes.withUnsafeBytes { buffer in
            Result { () throws(JSONParser.SyntaxError) -> JSONValue in
                try JSONParser.parse(buffer, maxDepth: limits.maxDepth)
            }
        }
        let document: JSONValue
        switch parsed {
        case .success(let value):
            document = value
        case .failure(let error):
            throw WireError(code: error.tooDeep ? .tooDeep : .malformedJSON, messageName: schema.fullName,
                            location: "offset \(error.offset)", reason: "invalid JSON: \(error.reason)")
        }
        let decoder = Decoder(rootName: schema.fullName, ignoreUnknown: options.ignoreUnknownFields)
        if document == .null {
            return ProtoFields(schema: schema)
        }
        return try decoder.message(document, schema: schema, path: "$")
    }

    /// Turns a ``JSONValue`` tree into the dynamic form; also reads the values
    /// ``JSONFieldReader`` leaves to it.
    struct Decoder {
        let rootName: String
        let ignoreUnknown: Bool

        func fail(_ path: String, _ reason: String, code: WireError.Code = .malformedJSON) -> WireError {
            WireError(code: code, messageName: rootName, location: path, reason: reason)
        }

        func message(_ json: JSONValue, schema: MessageSchema, path: String) throws(WireError) -> ProtoFields {
            if schema.wellKnownType == .timestamp {
                guard case .string(let text) = json else {
                    throw fail(path, "expected an RFC 3339 timestamp string, found \(json.kindDescription)")
                }
                do {
                    return try ProtoTimestamp(rfc3339: text).protoFields
                } catch {
                    throw fail(path, error.reason)
                }
            }
            guard case .object(let members) = json else {
                throw fail(path, "expected an object (\(schema.fullName)), found \(json.kindDescription)")
            }
            var fields = ProtoFields(schema: schema)
            var oneofMember: [Int: String] = [:]
            for (key, value) in members {
                let fieldPath = "\(path).\(key)"
                guard let index = schema.fieldIndex(named: key) else {
                    if ignoreUnknown { continue }
                    throw fail(fieldPath, "unknown field \"\(key)\"", code: .unknownField)
                }
                let field = schema.fields[index]
                if value == .null {
                    fields.values[index] = nil
                    continue
                }
                if let oneof = field.oneofIndex {
                    if let other = oneofMember[oneof], other != field.name {
                        throw fail(fieldPath, "only one of the oneof \"\(schema.oneofs[oneof])\" may be set (also got \"\(other)\")")
                    }
                    oneofMember[oneof] = field.name
                }
                fields.values[index] = try self.field(value, field: field, path: fieldPath)
            }
            return fields
        }

        func field(_ json: JSONValue, field: FieldSchema, path: String) throws(WireError) -> ProtoValue? {
            switch field.cardinality {
            case .repeated:
                guard case .array(let elements) = json else {
                    throw fail(path, "expected an array, found \(json.kindDescription)")
                }
                var values: [ProtoValue] = []
                values.reserveCapacity(elements.count)
                for (position, element) in elements.enumerated() {
                    let elementPath = "\(path)[\(position)]"
                    if element == .null { throw fail(elementPath, "null is not allowed in a list") }
                    if let value = try single(element, type: field.type, path: elementPath) {
                        values.append(value)
                    }
                }
                return .list(values)
            case .map(let keyType):
                guard case .object(let members) = json else {
                    throw fail(path, "expected an object (map), found \(json.kindDescription)")
                }
                var entries: [ProtoValue.MapEntry] = []
                var positionByKey: [ProtoValue: Int] = [:]
                for (key, value) in members {
                    let entryPath = "\(path).\(key)"
                    let mapKey = try self.mapKey(key, type: keyType, path: entryPath)
                    if value == .null { throw fail(entryPath, "null is not allowed as a map value") }
                    guard let mapped = try single(value, type: field.type, path: entryPath) else { continue }
                    if let existing = positionByKey[mapKey] {
                        entries[existing].value = mapped
                    } else {
                        positionByKey[mapKey] = entries.count
                        entries.append(ProtoValue.MapEntry(key: mapKey, value: mapped))
                    }
                }
                return .map(entries)
            case .implicit, .explicit:
                return try single(json, type: field.type, path: path)
            }
        }

        func mapKey(_ key: String, type: FieldType, path: String) throws(WireError) -> ProtoValue {
            switch type {
            case .string:
                // As for string values: protobuf-c (the binary encoding) cannot carry a NUL.
                if key.utf8.contains(0) {
                    throw fail(path, "map key contains a NUL character", code: .invalidString)
                }
                return .string(key)
            case .bool:
                if key == "true" { return .bool(true) }
                if key == "false" { return .bool(false) }
                throw fail(path, "map key must be \"true\" or \"false\"")
            default:
                guard let value = try single(.string(key), type: type, path: path) else {
                    throw fail(path, "invalid map key")
                }
                return value
            }
        }

        /// One value; nil for an unknown enum name when unknown fields are ignored.
        func single(_ json: JSONValue, type: FieldType, path: String) throws(WireError) -> ProtoValue? {
            switch type {
            case .int32, .sint32, .sfixed32:
                return .int32(Int32(try integer(json, path: path, min: Double(Int32.min), max: Double(Int32.max), type: "int32")))
            case .uint32, .fixed32:
                return .uint32(UInt32(try integer(json, path: path, min: 0, max: Double(UInt32.max), type: "uint32")))
            case .int64, .sint64, .sfixed64:
                return .int64(try int64(json, path: path))
            case .uint64, .fixed64:
                return .uint64(try uint64(json, path: path))
            case .float:
                let value = try floating(json, path: path)
                if value.isFinite, !Float(value).isFinite {
                    throw fail(path, "value out of range for float")
                }
                return .float(Float(value))
            case .double:
                return .double(try floating(json, path: path))
            case .bool:
                guard case .bool(let value) = json else { throw fail(path, "expected true or false, found \(json.kindDescription)") }
                return .bool(value)
            case .string:
                guard case .string(let value) = json else { throw fail(path, "expected a string, found \(json.kindDescription)") }
                if value.utf8.contains(0) {
                    throw fail(path, "string contains a NUL character", code: .invalidString)
                }
                return .string(value)
            case .bytes:
                guard case .string(let value) = json else { throw fail(path, "expected a base64 string, found \(json.kindDescription)") }
                guard let data = Self.base64(value) else { throw fail(path, "invalid base64") }
                return .bytes(data)
            case .enumeration(let schema):
                switch json {
                case .string(let name):
                    if let number = schema.number(of: name) { return .enumeration(number) }
                    if ignoreUnknown { return nil }
                    throw fail(path, "unknown value \"\(name.prefix(64))\" for enum \(schema.fullName)")
                case .number:
                    return .enumeration(Int32(try integer(json, path: path, min: Double(Int32.min), max: Double(Int32.max), type: "enum")))
                default:
                    throw fail(path, "expected an enum name, found \(json.kindDescription)")
                }
            case .message(let messageType):
                return .message(try message(json, schema: messageType.protoMessageSchema, path: path))
            }
        }

        private func numberText(_ json: JSONValue, path: String, type: String) throws(WireError) -> String {
            switch json {
            case .number(let text): return text
            case .string(let text) where !text.isEmpty && !text.contains(" "): return text
            default: throw fail(path, "expected \(type), found \(json.kindDescription)")
            }
        }

        /// A 32-bit integer: an integral JSON number or numeric string within bounds.
        private func integer(_ json: JSONValue, path: String, min: Double, max: Double, type: String) throws(WireError) -> Int64 {
            let text = try numberText(json, path: path, type: type)
            if let value = Int64(text) {
                guard Double(value) >= min, Double(value) <= max else { throw fail(path, "value \(text) out of range for \(type)") }
                return value
            }
            guard let value = Double(text), value.isFinite, value.rounded() == value else {
                throw fail(path, "expected \(type), found \"\(text.prefix(32))\"")
            }
            guard value >= min, value <= max else { throw fail(path, "value \(text.prefix(32)) out of range for \(type)") }
            return Int64(value)
        }

        private func int64(_ json: JSONValue, path: String) throws(WireError) -> Int64 {
            let text = try numberText(json, path: path, type: "int64")
            if let value = Int64(text) { return value }
            // Past ±2^63 a Double is not exact: -9223372036854775809 would round to Int64.min.
            guard let value = Double(text), value.isFinite, value.rounded() == value,
                  value > -9.223372036854775808e18, value < 9.223372036854775808e18 else {
                throw fail(path, "expected int64, found \"\(text.prefix(32))\"")
            }
            return Int64(value)
        }

        private func uint64(_ json: JSONValue, path: String) throws(WireError) -> UInt64 {
            let text = try numberText(json, path: path, type: "uint64")
            if let value = UInt64(text) { return value }
            guard let value = Double(text), value.isFinite, value.rounded() == value,
                  value >= 0, value < 1.8446744073709551616e19 else {
                throw fail(path, "expected uint64, found \"\(text.prefix(32))\"")
            }
            return UInt64(value)
        }

        private func floating(_ json: JSONValue, path: String) throws(WireError) -> Double {
            switch json {
            case .number(let text):
                guard let value = Double(text), value.isFinite else { throw fail(path, "number out of range") }
                return value
            case .string("NaN"): return .nan
            case .string("Infinity"): return .infinity
            case .string("-Infinity"): return -.infinity
            case .string(let text):
                guard let value = Double(text), value.isFinite else {
                    throw fail(path, "expected a number, found \"\(text.prefix(32))\"")
                }
                return value
            default:
                throw fail(path, "expected a number, found \(json.kindDescription)")
            }
        }

        static func base64(_ text: String) -> [UInt8]? {
            var normalized = String(text.map { $0 == "-" ? "+" : $0 == "_" ? "/" : $0 })
            while normalized.utf8.count % 4 != 0 { normalized += "=" }
            return Data(base64Encoded: normalized).map { Array($0) }
        }
    }
}
