/// The small part of TOML the CLI's config file uses: comments, `[table.path]` headers
/// with bare or quoted keys, and `key = "string"` pairs (basic strings with the usual
/// escapes, or 'literal' strings). Anything else is refused with its line number.
enum TOMLSubset {
    /// One `key = value` of the file, with the table it is in and its line.
    struct Entry: Equatable {
        var table: [String]
        var key: String
        var value: String
        var line: Int
    }

    /// A syntax error and its line (1-based).
    struct SyntaxError: Error, Equatable {
        var line: Int
        var reason: String
    }

    /// The entries of `text` in order; a key set twice in one table is an error.
    static func parse(_ text: String) throws(SyntaxError) -> [Entry] {
        var entries: [Entry] = []
        var table: [String] = []
        var seen = Set<[String]>()
        for (offset, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let number = offset + 1
            var scanner = Scanner(Array(String(rawLine).unicodeScalars), line: number)
            scanner.skipSpaces()
            if scanner.atEndOrComment { continue }
            if scanner.peek == "[" {
                scanner.advance()
                table = try scanner.keyPath(until: "]")
                scanner.advance()
                try scanner.expectEnd()
                continue
            }
            let path = try scanner.keyPath(until: "=")
            scanner.advance()
            scanner.skipSpaces()
            let value = try scanner.string()
            try scanner.expectEnd()
            let full = table + path
            guard seen.insert(full).inserted else {
                throw SyntaxError(line: number, reason: "\(full.joined(separator: ".")) is set twice")
            }
            entries.append(Entry(table: table + path.dropLast(), key: path.last!, value: value, line: number))
        }
        return entries
    }

    /// `key` as TOML writes it: bare when it can be, quoted otherwise.
    static func key(_ key: String) -> String {
        let bare = !key.isEmpty && key.unicodeScalars.allSatisfy(isBareKeyScalar)
        return bare ? key : quoted(key)
    }

    /// A basic string with `"`, `\` and control characters escaped.
    static func quoted(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\t": result += "\\t"
            case "\r": result += "\\r"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    result += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count)
                        + String(scalar.value, radix: 16, uppercase: true)
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return result + "\""
    }

    static func isBareKeyScalar(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "a"..."z", "A"..."Z", "0"..."9", "-", "_": return true
        default: return false
        }
    }

    private struct Scanner {
        let scalars: [Unicode.Scalar]
        let line: Int
        var position = 0

        init(_ scalars: [Unicode.Scalar], line: Int) {
            self.scalars = scalars.last == "\r" ? Array(scalars.dropLast()) : scalars
            self.line = line
        }

        var peek: Unicode.Scalar? { position < scalars.count ? scalars[position] : nil }
        var atEndOrComment: Bool { peek == nil || peek == "#" }

        mutating func advance() { position += 1 }

        mutating func skipSpaces() {
            while peek == " " || peek == "\t" { advance() }
        }

        func error(_ reason: String) -> SyntaxError { SyntaxError(line: line, reason: reason) }

        mutating func expectEnd() throws(SyntaxError) {
            skipSpaces()
            guard atEndOrComment else { throw error("unexpected text after the value") }
        }

        /// `a.b."c d"` up to `terminator` (left as the current character).
        mutating func keyPath(until terminator: Unicode.Scalar) throws(SyntaxError) -> [String] {
            var path: [String] = []
            while true {
                skipSpaces()
                if peek == "\"" || peek == "'" {
                    path.append(try string())
                } else {
                    var key = ""
                    while let scalar = peek, isBareKeyScalar(scalar) {
                        key.unicodeScalars.append(scalar)
                        advance()
                    }
                    guard !key.isEmpty else {
                        throw error(peek == nil ? "expected a key, found the end of the line"
                                                : "expected a key, found \"\(Character(peek!))\"")
                    }
                    path.append(key)
                }
                skipSpaces()
                if peek == "." { advance(); continue }
                guard peek == terminator else {
                    throw error("expected \"\(Character(terminator))\" after \(path.joined(separator: "."))")
                }
                return path
            }
        }

        /// A basic ("…") or literal ('…') string on one line.
        mutating func string() throws(SyntaxError) -> String {
            guard let quote = peek, quote == "\"" || quote == "'" else {
                throw error("values must be strings in double quotes (this file takes \"text\" values only)")
            }
            advance()
            var result = ""
            while let scalar = peek {
                advance()
                if scalar == quote { return result }
                if quote == "\"" && scalar == "\\" {
                    guard let escaped = peek else { break }
                    advance()
                    switch escaped {
                    case "\"": result += "\""
                    case "\\": result += "\\"
                    case "n": result += "\n"
                    case "t": result += "\t"
                    case "r": result += "\r"
                    case "u", "U":
                        let count = escaped == "u" ? 4 : 8
                        var hex = ""
                        for _ in 0..<count {
                            guard let digit = peek, digit.properties.isASCIIHexDigit else { throw error("bad \\\(escaped) escape") }
                            hex.unicodeScalars.append(digit)
                            advance()
                        }
                        guard let value = UInt32(hex, radix: 16), let decoded = Unicode.Scalar(value) else {
                            throw error("bad \\\(escaped) escape")
                        }
                        result.unicodeScalars.append(decoded)
                    default:
                        throw error("unknown escape \\\(escaped)")
                    }
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
            throw error("unterminated string")
        }
    }
}
