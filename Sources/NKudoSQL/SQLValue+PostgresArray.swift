// PostgreSQL arrays as one text parameter: `CAST($1 AS TEXT[])` with `unnest` lets one
// prepared statement write or read any number of rows (a batch of heartbeats), where a
// `VALUES` list of parameters would make one statement text, and one prepared statement,
// per number of rows.

extension SQLValue {
    /// A PostgreSQL array literal of these values, for `CAST($n AS TEXT[])`, `BIGINT[]`,
    /// `BOOLEAN[]`, `DOUBLE PRECISION[]` or `BYTEA[]` (the cast names the elements' type):
    /// every element but NULL quoted, `"` and `\` escaped; bytes in bytea's hex form.
    package static func postgresArray(_ elements: [SQLValue]) -> SQLValue {
        var literal = "{"
        for (index, element) in elements.enumerated() {
            if index > 0 { literal += "," }
            switch element {
            case .null: literal += "NULL"
            case .int(let value): appendQuoted(String(value), to: &literal)
            case .double(let value): appendQuoted(String(value), to: &literal)
            case .bool(let value): appendQuoted(value ? "true" : "false", to: &literal)
            case .text(let value): appendQuoted(value, to: &literal)
            case .blob(let bytes): appendQuoted("\\x" + bytes.map { String($0, radix: 16).leftPadded(to: 2) }.joined(), to: &literal)
            }
        }
        return .text(literal + "}")
    }

    private static func appendQuoted(_ element: String, to literal: inout String) {
        literal += "\""
        for scalar in element.unicodeScalars {
            if scalar == "\"" || scalar == "\\" { literal += "\\" }
            literal.unicodeScalars.append(scalar)
        }
        literal += "\""
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
