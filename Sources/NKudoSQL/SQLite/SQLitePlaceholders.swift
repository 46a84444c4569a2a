/// Rewrites the `$1, $2, …` placeholders of the store's SQL into SQLite's numbered
/// `?1, ?2, …` parameters.
///
/// SQLite reads `$1` as a *named* parameter and numbers named parameters in order of
/// first appearance, so `$2 … $1` would bind the wrong values: `?NNN` keeps the number.
/// Text inside string literals (`'…'`), quoted identifiers (`"…"`, `` `…` ``, `[…]`)
/// and comments (`-- …`, `/* … */`) is copied unchanged, as is a `$` that is not
/// followed by a digit or that continues an identifier (`price$1`).
enum SQLitePlaceholders {
    static func rewrite(_ sql: String) -> String {
        let bytes = Array(sql.utf8)
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count)
        var index = 0

        /// Copies up to and including the next `terminator` (or to the end).
        func copy(through terminator: [UInt8]) {
            while index < bytes.count {
                if bytes[index...].starts(with: terminator) {
                    output.append(contentsOf: terminator)
                    index += terminator.count
                    return
                }
                output.append(bytes[index])
                index += 1
            }
        }

        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "'"), UInt8(ascii: "\""), UInt8(ascii: "`"):
                // A doubled quote inside a literal ends one literal and starts the next:
                // copying both halves separately gives the same text.
                output.append(byte)
                index += 1
                copy(through: [byte])
            case UInt8(ascii: "["):
                output.append(byte)
                index += 1
                copy(through: [UInt8(ascii: "]")])
            case UInt8(ascii: "-") where bytes[index...].starts(with: "--".utf8):
                copy(through: [UInt8(ascii: "\n")])
            case UInt8(ascii: "/") where bytes[index...].starts(with: "/*".utf8):
                output.append(contentsOf: "/*".utf8)
                index += 2
                copy(through: Array("*/".utf8))
            case UInt8(ascii: "$")
            where index + 1 < bytes.count && isDigit(bytes[index + 1])
                && !(output.last.map(isIdentifierByte) ?? false):
                output.append(UInt8(ascii: "?"))
                index += 1
                while index < bytes.count && isDigit(bytes[index]) {
                    output.append(bytes[index])
                    index += 1
                }
            default:
                output.append(byte)
                index += 1
            }
        }
        return String(decoding: output, as: UTF8.self)
    }

    private static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    /// ASCII letters, digits, `_`, `$`, and every byte of a non-ASCII character.
    private static func isIdentifierByte(_ byte: UInt8) -> Bool {
        isDigit(byte) || byte >= 0x80 || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "$")
            || (byte | 0x20 >= UInt8(ascii: "a") && byte | 0x20 <= UInt8(ascii: "z"))
    }
}
