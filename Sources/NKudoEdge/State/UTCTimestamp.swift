import Foundation
import NKudoWire

/// RFC 3339 time stamps in UTC (`2026-12-06T11:10:03Z`), the form the agent writes into its
/// state files and `commands.log`, through the contract's `ProtoTimestamp` (integer calendar
/// arithmetic).
///
/// Foundation's ISO 8601 strategies and format styles build a Gregorian calendar, which looks
/// up the host's current time zone through ICU: ICU's time-zone resources then stay resident
/// in the idle agent for a stamp that is always UTC. The text is the same as
/// `JSONEncoder.DateEncodingStrategy.iso8601` writes, so state files stay readable by either
/// side of an upgrade.
enum UTCTimestamp {
    /// `date` in whole seconds (fractions are dropped, as `.iso8601` does), e.g.
    /// `2026-12-06T11:10:03Z`; outside the years 1 to 9999, `ProtoTimestamp`'s description.
    static func string(from date: Date) -> String {
        ProtoTimestamp(seconds: Int64(date.timeIntervalSince1970.rounded(.down))).description
    }

    /// The time `text` names: `YYYY-MM-DDTHH:MM:SS`, up to 9 fractional digits, then `Z` or a
    /// `±HH:MM` offset (what `.iso8601` and RFC 3339 write). Nil for anything else, including
    /// out-of-range fields such as month 13 or minute 60.
    static func date(from text: String) -> Date? {
        (try? ProtoTimestamp(rfc3339: text))?.date
    }

    /// Decodes a date with ``date(from:)``; the JSON decoders of the agent's state files use it.
    static let decodingStrategy = JSONDecoder.DateDecodingStrategy.custom { decoder in
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let date = date(from: text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "Expected an RFC 3339 date, found \"\(text)\".")
        }
        return date
    }

    /// Encodes a date with ``string(from:)``.
    static let encodingStrategy = JSONEncoder.DateEncodingStrategy.custom { date, encoder in
        var container = encoder.singleValueContainer()
        try container.encode(string(from: date))
    }
}
