import Foundation
@testable import NKudoWire

/// Compares JSON documents by meaning: objects regardless of key order, numbers by
/// value (float fields may print with different digits but the same float).
enum JSONComparison {
    static func parse(_ bytes: [UInt8]) throws -> JSONValue {
        try bytes.withUnsafeBytes { buffer in
            try JSONParser.parse(buffer, maxDepth: 100)
        }
    }

    /// A description of the first difference, or nil when equivalent.
    static func difference(_ lhs: JSONValue, _ rhs: JSONValue, path: String = "$") -> String? {
        switch (lhs, rhs) {
        case (.object(let a), .object(let b)):
            let left = Dictionary(a.map { ($0.key, $0.value) }, uniquingKeysWith: { _, last in last })
            let right = Dictionary(b.map { ($0.key, $0.value) }, uniquingKeysWith: { _, last in last })
            if Set(left.keys) != Set(right.keys) {
                return "\(path): keys \(left.keys.sorted()) vs \(right.keys.sorted())"
            }
            for key in left.keys.sorted() {
                if let difference = difference(left[key]!, right[key]!, path: "\(path).\(key)") { return difference }
            }
            return nil
        case (.array(let a), .array(let b)):
            if a.count != b.count { return "\(path): \(a.count) vs \(b.count) elements" }
            for (index, pair) in zip(a, b).enumerated() {
                if let difference = difference(pair.0, pair.1, path: "\(path)[\(index)]") { return difference }
            }
            return nil
        case (.number(let a), .number(let b)):
            guard let x = Double(a), let y = Double(b) else { return "\(path): \(a) vs \(b)" }
            return x == y || abs(x - y) <= 1e-6 * max(abs(x), abs(y)) ? nil : "\(path): \(a) vs \(b)"
        default:
            return lhs == rhs ? nil : "\(path): \(lhs) vs \(rhs)"
        }
    }

    /// The same document with every message key spelled as its lowerCamelCase JSON name.
    static func camelCased(_ value: JSONValue, schema: MessageSchema) -> JSONValue {
        guard schema.wellKnownType == nil, case .object(let members) = value else { return value }
        return .object(members.map { member in
            guard let index = schema.fieldIndex(named: member.key) else { return member }
            let field = schema.fields[index]
            var converted = member.value
            if case .message(let type) = field.type, !field.isMap {
                let nested = type.protoMessageSchema
                if case .array(let elements) = member.value {
                    converted = .array(elements.map { camelCased($0, schema: nested) })
                } else {
                    converted = camelCased(member.value, schema: nested)
                }
            }
            return (field.jsonName, converted)
        })
    }

    static func render(_ value: JSONValue) -> [UInt8] {
        var writer = JSONWriter()
        render(value, into: &writer)
        return writer.bytes
    }

    private static func render(_ value: JSONValue, into writer: inout JSONWriter) {
        switch value {
        case .null: writer.raw("null")
        case .bool(let v): writer.raw(v ? "true" : "false")
        case .number(let text): writer.raw(text)
        case .string(let text): writer.string(text)
        case .array(let elements):
            writer.byte(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 { writer.byte(UInt8(ascii: ",")) }
                render(element, into: &writer)
            }
            writer.byte(UInt8(ascii: "]"))
        case .object(let members):
            writer.byte(UInt8(ascii: "{"))
            for (index, member) in members.enumerated() {
                if index > 0 { writer.byte(UInt8(ascii: ",")) }
                writer.string(member.key)
                writer.byte(UInt8(ascii: ":"))
                render(member.value, into: &writer)
            }
            writer.byte(UInt8(ascii: "}"))
        }
    }
}
