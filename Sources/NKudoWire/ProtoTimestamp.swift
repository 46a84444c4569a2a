public import Foundation

/// `google.protobuf.Timestamp`: seconds and nanoseconds since the Unix epoch, in UTC.
/// JSON form: an RFC 3339 string with `Z` and 0, 3, 6 or 9 fractional digits.
public struct ProtoTimestamp: ProtoMessage, Comparable, CustomStringConvertible {
    /// Seconds since 1970-01-01T00:00:00Z.
    public var seconds: Int64
    /// Nanoseconds within the second, 0 ..< 1,000,000,000.
    public var nanos: Int32

    /// Smallest valid value: 0001-01-01T00:00:00Z.
    public static let minSeconds: Int64 = -62_135_596_800
    /// Largest valid value: 9999-12-31T23:59:59Z (plus nanoseconds).
    public static let maxSeconds: Int64 = 253_402_300_799

    /// Creates a timestamp.
    public init(seconds: Int64 = 0, nanos: Int32 = 0) {
        self.seconds = seconds
        self.nanos = nanos
    }

    /// The timestamp of a `Date` (nanoseconds rounded to microseconds, which is what a
    /// `Date` holds reliably).
    public init(date: Date) {
        let interval = date.timeIntervalSince1970
        var seconds = Int64(interval.rounded(.down))
        var micros = Int64(((interval - Double(seconds)) * 1_000_000).rounded())
        if micros >= 1_000_000 {
            seconds += 1
            micros -= 1_000_000
        }
        self.init(seconds: seconds, nanos: Int32(micros * 1000))
    }

    /// The current time.
    public static func now() -> ProtoTimestamp {
        ProtoTimestamp(date: Date())
    }

    /// The timestamp as a `Date`.
    public var date: Date {
        Date(timeIntervalSince1970: Double(seconds) + Double(nanos) / 1_000_000_000)
    }

    public static func < (lhs: ProtoTimestamp, rhs: ProtoTimestamp) -> Bool {
        (lhs.seconds, lhs.nanos) < (rhs.seconds, rhs.nanos)
    }

    public var description: String {
        (try? rfc3339()) ?? "\(seconds)s+\(nanos)ns"
    }

    public static let protoMessageSchema = MessageSchema(
        fullName: "google.protobuf.Timestamp",
        fields: [
            FieldSchema(number: 1, name: "seconds", jsonName: "seconds", type: .int64, cardinality: .implicit),
            FieldSchema(number: 2, name: "nanos", jsonName: "nanos", type: .int32, cardinality: .implicit),
        ],
        wellKnownType: .timestamp)

    public init(protoFields: ProtoFields) throws(WireError) {
        try self.init(checking: protoFields.scalar(0), nanos: protoFields.scalar(1))
    }

    /// A decoded timestamp, refused outside 0001-01-01 ... 9999-12-31 or with nanoseconds
    /// outside 0 ..< 10^9, as JSON refuses them: binary input would otherwise bring dates
    /// that no `Date` arithmetic downstream is ready for (microseconds past Int64).
    private init(checking seconds: Int64, nanos: Int32) throws(WireError) {
        guard seconds >= Self.minSeconds, seconds <= Self.maxSeconds, nanos >= 0, nanos < 1_000_000_000 else {
            throw Self.outOfRange(seconds, nanos)
        }
        self.init(seconds: seconds, nanos: nanos)
    }

    public var protoFields: ProtoFields {
        var fields = ProtoFields(schema: Self.protoMessageSchema)
        fields.values = [.int64(seconds), .int32(nanos)]
        return fields
    }

    public func writeBinaryFields(to writer: BinaryFieldWriter) throws(WireError) {
        try writer.scalar(0, seconds)
        try writer.scalar(1, nanos)
    }

    public init(binaryFields reader: BinaryFieldReader) throws(WireError) {
        try self.init(checking: reader.scalar(0), nanos: reader.scalar(1))
    }

    public func writeJSON(to writer: inout JSONFieldWriter) throws(WireError) {
        try writer.output.timestamp(self)
    }

    public init(jsonReader reader: inout JSONFieldReader) throws(WireError) {
        self = try reader.timestamp()
    }

    /// The RFC 3339 form used by proto3 JSON, e.g. `2026-02-06T12:00:01.123456Z`.
    public func rfc3339() throws(WireError) -> String {
        var writer = JSONWriter(capacity: 32)
        try writer.timestamp(self)
        return String(decoding: writer.bytes.dropFirst().dropLast(), as: UTF8.self)
    }

    static func outOfRange(_ seconds: Int64, _ nanos: Int32) -> WireError {
        WireError(code: .invalidValue, messageName: protoMessageSchema.fullName,
                  reason: "timestamp out of range (seconds \(seconds), nanos \(nanos))")
    }

    /// Parses RFC 3339 (`Z` or a `±hh:mm` offset, up to 9 fractional digits).
    public init(rfc3339 text: String) throws(WireError) {
        var text = text
        guard let timestamp = text.withUTF8({ Self.parse(rfc3339: UnsafeRawBufferPointer($0)) }) else {
            throw Self.notRFC3339(text)
        }
        self = timestamp
    }

    static func notRFC3339(_ text: String) -> WireError {
        WireError(code: .invalidValue, messageName: protoMessageSchema.fullName,
                  reason: "not an RFC 3339 timestamp with a time zone: \"\(text.prefix(40))\"")
    }

    /// The timestamp of RFC 3339 text, or nil when it is not one (or out of range).
    static func parse(rfc3339 chars: UnsafeRawBufferPointer) -> ProtoTimestamp? {
        struct Invalid: Error {}
        let error = Invalid()
        var position = 0
        func number(_ count: Int) throws(Invalid) -> Int64 {
            guard chars.count - position >= count else { throw error }
            var value: Int64 = 0
            for _ in 0..<count {
                let c = chars[position]
                guard c >= 48, c <= 57 else { throw error }
                value = value * 10 + Int64(c - 48)
                position += 1
            }
            return value
        }
        func expect(_ c: UInt8) throws(Invalid) {
            guard position < chars.count, chars[position] == c else { throw error }
            position += 1
        }
        do throws(Invalid) {
            let year = try number(4)
            try expect(UInt8(ascii: "-"))
            let month = try number(2)
            try expect(UInt8(ascii: "-"))
            let day = try number(2)
            guard position < chars.count, chars[position] == 84 || chars[position] == 116 else { throw error }
            position += 1
            let hour = try number(2)
            try expect(UInt8(ascii: ":"))
            let minute = try number(2)
            try expect(UInt8(ascii: ":"))
            let second = try number(2)
            var nanos: Int64 = 0
            if position < chars.count, chars[position] == 46 {
                position += 1
                var digits = 0
                while position < chars.count, chars[position] >= 48, chars[position] <= 57 {
                    guard digits < 9 else { throw error }
                    nanos = nanos * 10 + Int64(chars[position] - 48)
                    digits += 1
                    position += 1
                }
                guard digits > 0 else { throw error }
                for _ in digits..<9 { nanos *= 10 }
            }
            var offset: Int64 = 0
            guard position < chars.count else { throw error }
            switch chars[position] {
            case 90, 122:
                position += 1
            case 43, 45:
                let sign: Int64 = chars[position] == 45 ? -1 : 1
                position += 1
                let offsetHours = try number(2)
                try expect(UInt8(ascii: ":"))
                let offsetMinutes = try number(2)
                guard offsetHours < 24, offsetMinutes < 60 else { throw error }
                offset = sign * (offsetHours * 3600 + offsetMinutes * 60)
            default:
                throw error
            }
            guard position == chars.count, (1...12).contains(month), day >= 1, day <= CivilDate.daysInMonth(year, month),
                  hour < 24, minute < 60, second < 60 else { throw error }
            let seconds = CivilDate.toDays(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset
            guard (Self.minSeconds...Self.maxSeconds).contains(seconds) else { throw error }
            return ProtoTimestamp(seconds: seconds, nanos: Int32(nanos))
        } catch {
            return nil
        }
    }
}

/// Proleptic Gregorian calendar arithmetic (days since 1970-01-01).
enum CivilDate {
    static func fromDays(_ days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    static func toDays(_ year: Int64, _ month: Int64, _ day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func daysInMonth(_ year: Int64, _ month: Int64) -> Int64 {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }
}
