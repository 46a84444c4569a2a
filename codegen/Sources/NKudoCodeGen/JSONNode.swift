/// A JSON value for documents the generator writes. Objects keep their members in the
/// order they were written, so a generated document reads top-down and is byte-for-byte
/// the same on every run.
enum JSONNode {
    case string(String)
    case integer(Int)
    case bool(Bool)
    case array([JSONNode])
    case object([(key: String, value: JSONNode)])

    /// The object with `value` appended under `key` (other values are returned unchanged).
    func adding(_ key: String, _ value: JSONNode) -> JSONNode {
        guard case .object(let members) = self else { return self }
        return .object(members + [(key, value)])
    }

    /// The object with a `description` member appended, unless the text is empty.
    func described(_ text: String) -> JSONNode {
        text.isEmpty ? self : adding("description", .string(text))
    }

    /// Pretty-printed JSON text (two-space indentation, one member per line).
    func rendered() -> String {
        var out = ""
        write(into: &out, indentation: "")
        return out + "\n"
    }

    private func write(into out: inout String, indentation: String) {
        switch self {
        case .string(let text):
            Self.writeString(text, into: &out)
        case .integer(let value):
            out += String(value)
        case .bool(let value):
            out += value ? "true" : "false"
        case .array(let elements):
            Self.writeContainer("[", "]", elements, into: &out, indentation: indentation) { element, out, inner in
                element.write(into: &out, indentation: inner)
            }
        case .object(let members):
            Self.writeContainer("{", "}", members, into: &out, indentation: indentation) { member, out, inner in
                Self.writeString(member.key, into: &out)
                out += ": "
                member.value.write(into: &out, indentation: inner)
            }
        }
    }

    /// An array or object: empty on one line, else one item per line, indented.
    private static func writeContainer<Item>(_ open: String, _ close: String, _ items: [Item], into out: inout String, indentation: String,
                                             item writeItem: (Item, inout String, String) -> Void) {
        guard !items.isEmpty else {
            out += open + close
            return
        }
        let inner = indentation + "  "
        out += open + "\n"
        for (index, item) in items.enumerated() {
            out += inner
            writeItem(item, &out, inner)
            out += index == items.count - 1 ? "\n" : ",\n"
        }
        out += indentation + close
    }

    private static func writeString(_ text: String, into out: inout String) {
        out += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }
}

extension JSONNode: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral {
    init(stringLiteral value: String) { self = .string(value) }
    init(integerLiteral value: Int) { self = .integer(value) }
    init(booleanLiteral value: Bool) { self = .bool(value) }
    init(arrayLiteral elements: JSONNode...) { self = .array(elements) }
    /// An object with the members in literal order.
    init(dictionaryLiteral elements: (String, JSONNode)...) { self = .object(elements.map { (key: $0.0, value: $0.1) }) }
}
