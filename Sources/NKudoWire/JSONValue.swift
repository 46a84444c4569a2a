/// A parsed JSON document. Numbers keep their source text so 64-bit integers are
/// exact; objects keep their members in order (duplicates included).
enum JSONValue: Equatable {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([(key: String, value: JSONValue)])

    static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case (.bool(let a), .bool(let b)): return a == b
        case (.number(let a), .number(let b)): return a == b
        case (.string(let a), .string(let b)): return a == b
        case (.array(let a), .array(let b)): return a == b
        case (.object(let a), .object(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        default: return false
        }
    }

    /// A short description of the value's kind for error messages.
    var kindDescription: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number(let text): return "the number \(text.prefix(24))"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}

/// A strict RFC 8259 parser over UTF-8 bytes with a nesting limit.
///
/// It builds a ``JSONValue`` tree (``parse(_:maxDepth:)``), or only checks the syntax
/// (``validate(_:maxDepth:)``: the same code, the same errors, nothing built), after
/// which ``JSONFieldReader`` reads the input without checking it again.
struct JSONParser {
    private let bytes: UnsafeRawBufferPointer
    private var position = 0
    private let maxDepth: Int
    /// Whether values are built (false: syntax check only, every value is `.null`).
    private let build: Bool

    /// A syntax error and where it is (byte offset).
    struct SyntaxError: Error {
        let offset: Int
        let reason: String
        let tooDeep: Bool
    }

    static func parse(_ bytes: UnsafeRawBufferPointer, maxDepth: Int) throws(SyntaxError) -> JSONValue {
        try document(bytes, maxDepth: maxDepth, build: true)
    }

    /// Checks that `bytes` is one JSON document within the nesting limit; throws what
    /// ``parse(_:maxDepth:)`` would throw.
    static func validate(_ bytes: UnsafeRawBufferPointer, maxDepth: Int) throws(SyntaxError) {
        _ = try document(bytes, maxDepth: maxDepth, build: false)
    }

    /// The value that starts at `position` (after any whitespace) in input that passed
    /// ``validate(_:maxDepth:)``; `position` moves past it.
    static func value(in bytes: UnsafeRawBufferPointer, at position: inout Int) throws(SyntaxError) -> JSONValue {
        var parser = JSONParser(bytes: bytes, maxDepth: .max, build: true)
        parser.position = position
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        position = parser.position
        return value
    }

    private static func document(_ bytes: UnsafeRawBufferPointer, maxDepth: Int, build: Bool) throws(SyntaxError) -> JSONValue {
        var parser = JSONParser(bytes: bytes, maxDepth: maxDepth, build: build)
        parser.skipWhitespace()
        if parser.position == bytes.count {
            throw SyntaxError(offset: 0, reason: "empty document", tooDeep: false)
        }
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        if parser.position != bytes.count {
            throw SyntaxError(offset: parser.position, reason: "unexpected data after the JSON value", tooDeep: false)
        }
        return value
    }

    private init(bytes: UnsafeRawBufferPointer, maxDepth: Int, build: Bool) {
        self.bytes = bytes
        self.maxDepth = maxDepth
        self.build = build
    }

    private mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x0A, 0x0D, 0x09: position += 1
            default: return
            }
        }
    }

    private func fail(_ reason: String) -> SyntaxError {
        SyntaxError(offset: position, reason: reason, tooDeep: false)
    }

    private mutating func parseValue(depth: Int) throws(SyntaxError) -> JSONValue {
        guard position < bytes.count else { throw fail("unexpected end of input") }
        switch bytes[position] {
        case UInt8(ascii: "{"):
            return try parseObject(depth: depth + 1)
        case UInt8(ascii: "["):
            return try parseArray(depth: depth + 1)
        case UInt8(ascii: "\""):
            return .string(try parseString())
        case UInt8(ascii: "t"):
            try expectLiteral("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try expectLiteral("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try expectLiteral("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return .number(try parseNumber())
        default:
            throw fail("unexpected character '\(Unicode.Scalar(bytes[position]))'")
        }
    }

    private mutating func expectLiteral(_ literal: StaticString) throws(SyntaxError) {
        let count = literal.utf8CodeUnitCount
        guard bytes.count - position >= count else { throw fail("invalid literal") }
        for offset in 0..<count where bytes[position + offset] != literal.utf8Start[offset] {
            throw fail("invalid literal")
        }
        position += count
    }

    private mutating func parseObject(depth: Int) throws(SyntaxError) -> JSONValue {
        if depth > maxDepth { throw SyntaxError(offset: position, reason: "nested deeper than \(maxDepth) levels", tooDeep: true) }
        position += 1
        var members: [(key: String, value: JSONValue)] = []
        skipWhitespace()
        if position < bytes.count, bytes[position] == UInt8(ascii: "}") {
            position += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
            let key = try parseString()
            skipWhitespace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else { throw fail("expected ':'") }
            position += 1
            skipWhitespace()
            let value = try parseValue(depth: depth)
            if build { members.append((key, value)) }
            skipWhitespace()
            guard position < bytes.count else { throw fail("unexpected end of input in an object") }
            if bytes[position] == UInt8(ascii: ",") {
                position += 1
                continue
            }
            if bytes[position] == UInt8(ascii: "}") {
                position += 1
                return .object(members)
            }
            throw fail("expected ',' or '}'")
        }
    }

    private mutating func parseArray(depth: Int) throws(SyntaxError) -> JSONValue {
        if depth > maxDepth { throw SyntaxError(offset: position, reason: "nested deeper than \(maxDepth) levels", tooDeep: true) }
        position += 1
        var elements: [JSONValue] = []
        skipWhitespace()
        if position < bytes.count, bytes[position] == UInt8(ascii: "]") {
            position += 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            let element = try parseValue(depth: depth)
            if build { elements.append(element) }
            skipWhitespace()
            guard position < bytes.count else { throw fail("unexpected end of input in an array") }
            if bytes[position] == UInt8(ascii: ",") {
                position += 1
                continue
            }
            if bytes[position] == UInt8(ascii: "]") {
                position += 1
                return .array(elements)
            }
            throw fail("expected ',' or ']'")
        }
    }

    private mutating func parseNumber() throws(SyntaxError) -> String {
        let start = position
        if bytes[position] == UInt8(ascii: "-") { position += 1 }
        guard position < bytes.count, isDigit(bytes[position]) else { throw fail("invalid number") }
        if bytes[position] == UInt8(ascii: "0") {
            position += 1
        } else {
            while position < bytes.count, isDigit(bytes[position]) { position += 1 }
        }
        if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
            position += 1
            guard position < bytes.count, isDigit(bytes[position]) else { throw fail("invalid number") }
            while position < bytes.count, isDigit(bytes[position]) { position += 1 }
        }
        if position < bytes.count, bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E") {
            position += 1
            if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") { position += 1 }
            guard position < bytes.count, isDigit(bytes[position]) else { throw fail("invalid number") }
            while position < bytes.count, isDigit(bytes[position]) { position += 1 }
        }
        if !build { return "" }
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
    }

    private func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    /// A string; UTF-8 is checked in place, escapes are decoded only when building.
    private mutating func parseString() throws(SyntaxError) -> String {
        position += 1
        let start = position
        var utf8: [UInt8] = []
        var escaped = false
        var valid = true
        var runStart = position
        while true {
            guard position < bytes.count else { throw fail("unterminated string") }
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                if escaped, build { utf8.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[runStart..<position])) }
                position += 1
                break
            }
            if byte < 0x20 { throw fail("control character in a string") }
            if byte >= 0x80 {
                // A well-formed sequence is skipped whole; a byte that starts none is
                // invalid, and the next byte is looked at on its own (as a whole-string
                // check would find the string invalid too).
                let length = Self.sequenceLength(bytes, at: position)
                if length == 0 {
                    valid = false
                    position += 1
                } else {
                    position += length
                }
                continue
            }
            if byte != UInt8(ascii: "\\") {
                position += 1
                continue
            }
            escaped = true
            if build { utf8.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[runStart..<position])) }
            position += 1
            guard position < bytes.count else { throw fail("unterminated escape") }
            let escape = bytes[position]
            position += 1
            switch escape {
            case UInt8(ascii: "\""): utf8.append(0x22)
            case UInt8(ascii: "\\"): utf8.append(0x5C)
            case UInt8(ascii: "/"): utf8.append(0x2F)
            case UInt8(ascii: "b"): utf8.append(0x08)
            case UInt8(ascii: "f"): utf8.append(0x0C)
            case UInt8(ascii: "n"): utf8.append(0x0A)
            case UInt8(ascii: "r"): utf8.append(0x0D)
            case UInt8(ascii: "t"): utf8.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if (0xD800...0xDBFF).contains(scalar) {
                    guard bytes.count - position >= 6, bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u") else {
                        throw fail("unpaired surrogate in a string")
                    }
                    position += 2
                    let low = try hex4()
                    guard (0xDC00...0xDFFF).contains(low) else { throw fail("invalid surrogate pair in a string") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(scalar) {
                    throw fail("unpaired surrogate in a string")
                }
                if build { utf8.append(contentsOf: String(Character(Unicode.Scalar(scalar)!)).utf8) }
            default:
                throw fail("invalid escape '\\\(Unicode.Scalar(escape))'")
            }
            runStart = position
        }
        guard valid else { throw fail("string is not valid UTF-8") }
        if !build { return "" }
        if !escaped { return UTF8Text.repairing(UnsafeRawBufferPointer(rebasing: bytes[start..<position - 1])) }
        return String(decoding: utf8, as: UTF8.self)
    }

    /// The length of the well-formed UTF-8 sequence (Unicode table 3-7) that starts at
    /// `position` with a byte ≥ 0x80; 0 when none does.
    static func sequenceLength(_ bytes: UnsafeRawBufferPointer, at position: Int) -> Int {
        let first = bytes[position]
        let remaining = bytes.count - position
        func continuation(_ offset: Int, _ range: ClosedRange<UInt8> = 0x80...0xBF) -> Bool {
            offset < remaining && range.contains(bytes[position + offset])
        }
        switch first {
        case 0xC2...0xDF:
            return continuation(1) ? 2 : 0
        case 0xE0:
            return continuation(1, 0xA0...0xBF) && continuation(2) ? 3 : 0
        case 0xE1...0xEC, 0xEE...0xEF:
            return continuation(1) && continuation(2) ? 3 : 0
        case 0xED:
            return continuation(1, 0x80...0x9F) && continuation(2) ? 3 : 0
        case 0xF0:
            return continuation(1, 0x90...0xBF) && continuation(2) && continuation(3) ? 4 : 0
        case 0xF1...0xF3:
            return continuation(1) && continuation(2) && continuation(3) ? 4 : 0
        case 0xF4:
            return continuation(1, 0x80...0x8F) && continuation(2) && continuation(3) ? 4 : 0
        default:
            return 0
        }
    }

    private mutating func hex4() throws(SyntaxError) -> UInt32 {
        guard bytes.count - position >= 4 else { throw fail("truncated \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[position]
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
            default: throw fail("invalid \\u escape")
            }
            value = value << 4 | digit
            position += 1
        }
        return value
    }
}
