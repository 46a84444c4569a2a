// PostgreSQL arrays as one text parameter: `CAST($1 AS TEXT[])` with `unnest` lets one
// prepared statement write or read any number of rows (a batch of heartbeats), where a
// `VALUES` list of parameters would make one statement text, and one prepared statement,
// per number of rows.

extension SQLValue {
    /// A PostgreSQL array literal of these values, for `CAST($n AS TEXT[])`, `BIGINT[]`,
    /// `BOOLEAN[]`, `DOUBLE PRECISION[]` or `BYTEA[]` (the cast names the elements' type):
    /// numbers as they are, every other element but NULL quoted with `"` and `\` escaped,
    /// bytes in bytea's hex form.
    ///
    /// Built byte by byte in UTF-8, where `"` and `\` never occur inside another character:
    /// a batch of heartbeats sends hundreds of elements, and appending them to a `String`
    /// one scalar at a time was 4 % of the control plane's CPU.
    package static func postgresArray(_ elements: [SQLValue]) -> SQLValue {
        var literal: [UInt8] = [UInt8(ascii: "{")]
        literal.reserveCapacity(elements.count * 40 + 2)
        for (index, element) in elements.enumerated() {
            if index > 0 { literal.append(UInt8(ascii: ",")) }
            switch element {
            case .null: literal.append(contentsOf: "NULL".utf8)
            case .int(let value): literal.append(contentsOf: String(value).utf8)
            case .double(let value): appendQuoted(String(value).utf8, to: &literal)
            case .bool(let value): literal.append(contentsOf: (value ? "true" : "false").utf8)
            case .text(let value): appendQuoted(value.utf8, to: &literal)
            case .blob(let bytes): appendQuoted(("\\x" + bytes.map { String($0, radix: 16).leftPadded(to: 2) }.joined()).utf8, to: &literal)
            }
        }
        literal.append(UInt8(ascii: "}"))
        return .text(String(decoding: literal, as: UTF8.self))
    }

    private static func appendQuoted(_ element: String.UTF8View, to literal: inout [UInt8]) {
        let quote = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\")
        literal.append(quote)
        for byte in element {
            if byte == quote || byte == backslash { literal.append(backslash) }
            literal.append(byte)
        }
        literal.append(quote)
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
