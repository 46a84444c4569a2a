import Foundation

/// Appends compact JSON text to a byte buffer.
struct JSONWriter {
    private(set) var bytes: [UInt8] = []

    init(capacity: Int = 256) {
        bytes.reserveCapacity(capacity)
    }

    mutating func raw(_ text: StaticString) {
        bytes.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    mutating func raw(_ text: String) {
        bytes.append(contentsOf: text.utf8)
    }

    mutating func raw(_ text: [UInt8]) {
        bytes.append(contentsOf: text)
    }

    mutating func byte(_ byte: UInt8) {
        bytes.append(byte)
    }

    /// A JSON string literal with the mandatory escapes (and `<`, `>`, `&` left as-is).
    mutating func string(_ value: String) {
        var value = value
        value.withUTF8 { utf8 in string(utf8: utf8) }
    }

    /// A JSON string literal of UTF-8 text; runs that need no escape are copied whole.
    mutating func string(utf8: UnsafeBufferPointer<UInt8>) {
        bytes.append(UInt8(ascii: "\""))
        var runStart = 0
        for (position, byte) in utf8.enumerated() where byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<position]))
            runStart = position + 1
            switch byte {
            case UInt8(ascii: "\""): raw("\\\"")
            case UInt8(ascii: "\\"): raw("\\\\")
            case 0x0A: raw("\\n")
            case 0x0D: raw("\\r")
            case 0x09: raw("\\t")
            case 0x08: raw("\\b")
            case 0x0C: raw("\\f")
            default:
                raw("\\u00")
                bytes.append(Self.hexDigits[Int(byte >> 4)])
                bytes.append(Self.hexDigits[Int(byte & 0xF)])
            }
        }
        bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart...]))
        bytes.append(UInt8(ascii: "\""))
    }

    /// The decimal digits of an integer (what `String(value)` prints).
    mutating func integer(_ value: Int64) {
        if value < 0 {
            bytes.append(UInt8(ascii: "-"))
            unsigned(value.magnitude)
        } else {
            unsigned(UInt64(value))
        }
    }

    /// The decimal digits of an unsigned integer.
    mutating func unsigned(_ value: UInt64) {
        if value < 10 {
            bytes.append(UInt8(ascii: "0") + UInt8(value))
            return
        }
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var value = value
            var start = 20
            while value > 0 {
                start -= 1
                digits[start] = UInt8(ascii: "0") + UInt8(value % 10)
                value /= 10
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: digits[start..<20]))
        }
    }

    /// `value` as exactly `width` decimal digits (zero-padded; `value` < 10^width).
    mutating func padded(_ value: Int64, width: Int) {
        var divisor: Int64 = 1
        for _ in 1..<width { divisor *= 10 }
        var value = value
        while divisor > 0 {
            bytes.append(UInt8(ascii: "0") + UInt8(value / divisor))
            value %= divisor
            divisor /= 10
        }
    }

    /// A timestamp as a quoted RFC 3339 string, as ``ProtoTimestamp/rfc3339()`` spells it.
    mutating func timestamp(_ timestamp: ProtoTimestamp) throws(WireError) {
        let (seconds, nanos) = (timestamp.seconds, timestamp.nanos)
        guard (ProtoTimestamp.minSeconds...ProtoTimestamp.maxSeconds).contains(seconds), (0..<1_000_000_000).contains(nanos) else {
            throw ProtoTimestamp.outOfRange(seconds, nanos)
        }
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        let (year, month, day) = CivilDate.fromDays(days)
        bytes.append(UInt8(ascii: "\""))
        padded(year, width: 4)
        bytes.append(UInt8(ascii: "-"))
        padded(month, width: 2)
        bytes.append(UInt8(ascii: "-"))
        padded(day, width: 2)
        bytes.append(UInt8(ascii: "T"))
        padded(secondOfDay / 3600, width: 2)
        bytes.append(UInt8(ascii: ":"))
        padded(secondOfDay / 60 % 60, width: 2)
        bytes.append(UInt8(ascii: ":"))
        padded(secondOfDay % 60, width: 2)
        if nanos != 0 {
            bytes.append(UInt8(ascii: "."))
            if nanos % 1_000_000 == 0 {
                padded(Int64(nanos / 1_000_000), width: 3)
            } else if nanos % 1000 == 0 {
                padded(Int64(nanos / 1000), width: 6)
            } else {
                padded(Int64(nanos), width: 9)
            }
        }
        raw("Z\"")
    }

    /// A float or double: `NaN` and the infinities as strings, other values as `text`.
    mutating func floating(_ value: Double, text: @autoclosure () -> String) {
        if value.isNaN {
            raw("\"NaN\"")
        } else if value.isInfinite {
            raw(value < 0 ? "\"-Infinity\"" : "\"Infinity\"")
        } else {
            raw(text())
        }
    }

    /// Bytes as standard base64 in a JSON string.
    mutating func base64(_ value: [UInt8]) {
        string(Data(value).base64EncodedString())
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)
}
