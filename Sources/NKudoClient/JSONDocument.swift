/// A JSON document with its members in order, for printing a response's proto3 JSON
/// indented (`-o json`) or as YAML (`-o yaml`).
public indirect enum JSONDocument: Equatable, Sendable {
    case null
    case bool(Bool)
    /// A number, as written.
    case number(String)
    case string(String)
    case array([JSONDocument])
    case object([Member])

    /// One member of an object.
    public struct Member: Equatable, Sendable {
        public var key: String
        public var value: JSONDocument
    }

    /// Parses UTF-8 JSON (the generated encoder's output).
    public init(parsing bytes: [UInt8]) throws(ClientError) {
        var parser = Parser(bytes: bytes)
        self = try parser.document()
    }

    /// Indented JSON, two spaces per level, members in order.
    public func prettyJSON(indent: String = "") -> String {
        let inner = indent + "  "
        switch self {
        case .null: return "null"
        case .bool(let value): return value ? "true" : "false"
        case .number(let text): return text
        case .string(let text): return Self.jsonQuoted(text)
        case .array(let items):
            guard !items.isEmpty else { return "[]" }
            return "[\n" + items.map { inner + $0.prettyJSON(indent: inner) }.joined(separator: ",\n") + "\n\(indent)]"
        case .object(let members):
            guard !members.isEmpty else { return "{}" }
            return "{\n" + members.map { inner + Self.jsonQuoted($0.key) + ": " + $0.value.prettyJSON(indent: inner) }
                .joined(separator: ",\n") + "\n\(indent)}"
        }
    }

    /// YAML (block style; strings quoted where plain scalars would be read differently).
    public func yaml() -> String {
        var lines: [String] = []
        switch self {
        case .object(let members) where !members.isEmpty: Self.yamlMembers(members, indent: "", into: &lines)
        case .array(let items) where !items.isEmpty: Self.yamlItems(items, indent: "", into: &lines)
        default: lines.append(yamlScalar)
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private var yamlScalar: String {
        switch self {
        case .null: return "null"
        case .bool(let value): return value ? "true" : "false"
        case .number(let text): return text
        case .string(let text): return Self.yamlString(text)
        case .array: return "[]"
        case .object: return "{}"
        }
    }

    private var isNonEmptyCollection: Bool {
        switch self {
        case .array(let items): return !items.isEmpty
        case .object(let members): return !members.isEmpty
        default: return false
        }
    }

    private static func yamlMembers(_ members: [Member], indent: String, into lines: inout [String]) {
        for member in members {
            let key = yamlString(member.key)
            switch member.value {
            case .object(let inner) where !inner.isEmpty:
                lines.append("\(indent)\(key):")
                yamlMembers(inner, indent: indent + "  ", into: &lines)
            case .array(let items) where !items.isEmpty:
                lines.append("\(indent)\(key):")
                yamlItems(items, indent: indent, into: &lines)
            default:
                lines.append("\(indent)\(key): \(member.value.yamlScalar)")
            }
        }
    }

    private static func yamlItems(_ items: [JSONDocument], indent: String, into lines: inout [String]) {
        for item in items {
            switch item {
            case .object(let members) where !members.isEmpty:
                var inner: [String] = []
                yamlMembers(members, indent: indent + "  ", into: &inner)
                inner[0] = indent + "- " + inner[0].dropFirst(indent.count + 2)
                lines.append(contentsOf: inner)
            case .array(let nested) where !nested.isEmpty:
                lines.append("\(indent)-")
                yamlItems(nested, indent: indent + "  ", into: &lines)
            default:
                lines.append("\(indent)- \(item.yamlScalar)")
            }
        }
    }

    /// A plain scalar when YAML reads it back as the same string, else a double-quoted one.
    static func yamlString(_ text: String) -> String {
        let reserved: Set<String> = ["", "null", "Null", "NULL", "~", "true", "True", "TRUE", "false", "False", "FALSE",
                                     "yes", "Yes", "YES", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF"]
        let first = text.unicodeScalars.first
        let plain = !reserved.contains(text)
            && Double(text) == nil && Int(text) == nil && !looksLikeDate(text)
            && !(first.map { "-?:,[]{}#&*!|>'\"%@` ".unicodeScalars.contains($0) } ?? true)
            && text.unicodeScalars.last != " "
            && !text.contains(": ") && !text.contains(" #")
            && text.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value != 0x7F }
        return plain ? text : jsonQuoted(text)
    }

    /// YAML 1.1 would read `2026-01-02…` as a timestamp, not a string.
    static func looksLikeDate(_ text: String) -> Bool {
        let scalars = Array(text.unicodeScalars.prefix(10))
        guard scalars.count == 10 else { return false }
        return scalars.enumerated().allSatisfy { index, scalar in
            index == 4 || index == 7 ? scalar == "-" : ("0"..."9").contains(scalar)
        }
    }

    static func jsonQuoted(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    let hex = String(scalar.value, radix: 16)
                    result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return result + "\""
    }

    private struct Parser {
        let bytes: [UInt8]
        var position = 0

        init(bytes: [UInt8]) { self.bytes = bytes }

        func error(_ reason: String) -> ClientError {
            ClientError(.api, "invalid JSON at byte \(position): \(reason)")
        }

        mutating func document() throws(ClientError) -> JSONDocument {
            let value = try self.value(depth: 0)
            skipWhitespace()
            guard position == bytes.count else { throw error("unexpected data after the value") }
            return value
        }

        mutating func skipWhitespace() {
            while position < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[position]) { position += 1 }
        }

        mutating func literal(_ text: String) -> Bool {
            let expected = Array(text.utf8)
            guard bytes.count - position >= expected.count, Array(bytes[position..<position + expected.count]) == expected else { return false }
            position += expected.count
            return true
        }

        mutating func value(depth: Int) throws(ClientError) -> JSONDocument {
            guard depth < 100 else { throw error("nested too deeply") }
            skipWhitespace()
            guard position < bytes.count else { throw error("unexpected end") }
            switch bytes[position] {
            case UInt8(ascii: "{"):
                position += 1
                var members: [Member] = []
                skipWhitespace()
                if position < bytes.count, bytes[position] == UInt8(ascii: "}") { position += 1; return .object(members) }
                while true {
                    skipWhitespace()
                    let key = try string()
                    skipWhitespace()
                    guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else { throw error("expected ':'") }
                    position += 1
                    members.append(Member(key: key, value: try value(depth: depth + 1)))
                    skipWhitespace()
                    guard position < bytes.count else { throw error("unexpected end") }
                    if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
                    guard bytes[position] == UInt8(ascii: "}") else { throw error("expected ',' or '}'") }
                    position += 1
                    return .object(members)
                }
            case UInt8(ascii: "["):
                position += 1
                var items: [JSONDocument] = []
                skipWhitespace()
                if position < bytes.count, bytes[position] == UInt8(ascii: "]") { position += 1; return .array(items) }
                while true {
                    items.append(try value(depth: depth + 1))
                    skipWhitespace()
                    guard position < bytes.count else { throw error("unexpected end") }
                    if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
                    guard bytes[position] == UInt8(ascii: "]") else { throw error("expected ',' or ']'") }
                    position += 1
                    return .array(items)
                }
            case UInt8(ascii: "\""):
                return .string(try string())
            default:
                if literal("null") { return .null }
                if literal("true") { return .bool(true) }
                if literal("false") { return .bool(false) }
                let start = position
                while position < bytes.count, "+-.0123456789eE".utf8.contains(bytes[position]) { position += 1 }
                guard position > start else { throw error("unexpected character") }
                return .number(String(decoding: bytes[start..<position], as: UTF8.self))
            }
        }

        mutating func string() throws(ClientError) -> String {
            guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else { throw error("expected a string") }
            position += 1
            var scalars = String.UnicodeScalarView()
            var pendingHigh: UInt32?
            while position < bytes.count {
                let byte = bytes[position]
                if byte == UInt8(ascii: "\"") {
                    position += 1
                    return String(scalars)
                }
                if byte == UInt8(ascii: "\\") {
                    guard position + 1 < bytes.count else { break }
                    let escaped = bytes[position + 1]
                    position += 2
                    switch escaped {
                    case UInt8(ascii: "\""): scalars.append("\"")
                    case UInt8(ascii: "\\"): scalars.append("\\")
                    case UInt8(ascii: "/"): scalars.append("/")
                    case UInt8(ascii: "b"): scalars.append("\u{08}")
                    case UInt8(ascii: "f"): scalars.append("\u{0C}")
                    case UInt8(ascii: "n"): scalars.append("\n")
                    case UInt8(ascii: "r"): scalars.append("\r")
                    case UInt8(ascii: "t"): scalars.append("\t")
                    case UInt8(ascii: "u"):
                        guard position + 4 <= bytes.count,
                              let unit = UInt32(String(decoding: bytes[position..<position + 4], as: UTF8.self), radix: 16) else {
                            throw error("bad \\u escape")
                        }
                        position += 4
                        if (0xD800..<0xDC00).contains(unit) {
                            pendingHigh = unit
                        } else if let high = pendingHigh, (0xDC00..<0xE000).contains(unit) {
                            scalars.append(Unicode.Scalar(0x10000 + ((high - 0xD800) << 10) + (unit - 0xDC00))!)
                            pendingHigh = nil
                        } else {
                            scalars.append(Unicode.Scalar(unit) ?? "\u{FFFD}")
                        }
                    default:
                        throw error("bad escape")
                    }
                    continue
                }
                // A run of unescaped bytes: decode it as UTF-8 at once.
                let start = position
                while position < bytes.count, bytes[position] != UInt8(ascii: "\""), bytes[position] != UInt8(ascii: "\\") { position += 1 }
                scalars.append(contentsOf: String(decoding: bytes[start..<position], as: UTF8.self).unicodeScalars)
            }
            throw error("unterminated string")
        }
    }
}
