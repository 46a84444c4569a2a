import Foundation
@testable import NKudoEdge
import Testing

/// The agent's own RFC 3339 time stamps (issue 14, point 3: no ICU time-zone lookup for a UTC
/// stamp) write and read exactly what Foundation's `.iso8601` strategies did, so state files of
/// the previous release load and the previous release can read ours.
@Suite("UTC time stamps")
struct UTCTimestampTests {
    private struct Stamped: Codable, Equatable {
        var at: Date
    }

    @Test("the same text as Foundation's .iso8601 for 2,000 random times from 1800 to 9999, and each reads back as Foundation reads it")
    func matchesFoundation() throws {
        let foundationEncoder = JSONEncoder()
        foundationEncoder.dateEncodingStrategy = .iso8601
        let foundationDecoder = JSONDecoder()
        foundationDecoder.dateDecodingStrategy = .iso8601
        var generator = SystemRandomNumberGenerator()
        let edges: [Double] = [0, -1, 86_399, 86_400, 951_782_400, 951_868_800, 4_107_542_400, -2_208_988_800, 253_402_300_799]
        let random = (0..<2_000).map { _ in Double.random(in: -5_364_662_400...253_402_300_799, using: &generator) }
        for seconds in edges + random {
            let date = Date(timeIntervalSince1970: seconds)
            let foundation = String(decoding: try foundationEncoder.encode([date]), as: UTF8.self)
            let text = String(foundation.dropFirst(2).dropLast(2))
            #expect(UTCTimestamp.string(from: date) == text, "\(seconds)")
            let read = try foundationDecoder.decode([Date].self, from: Data(foundation.utf8))[0]
            #expect(UTCTimestamp.date(from: text) == read, "\(text)")
        }
    }

    @Test("the JSON strategies round-trip a state file and read one Foundation wrote")
    func strategies() throws {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = UTCTimestamp.encodingStrategy
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = UTCTimestamp.decodingStrategy
        let value = Stamped(at: Date(timeIntervalSince1970: 1_796_556_603))
        #expect(String(decoding: try encoder.encode(value), as: UTF8.self) == #"{"at":"2026-12-06T11:30:03Z"}"#)
        #expect(try decoder.decode(Stamped.self, from: encoder.encode(value)) == value)
        #expect(try decoder.decode(Stamped.self, from: Data(#"{"at":"2026-12-06T11:30:03Z"}"#.utf8)) == value)
        #expect(throws: DecodingError.self) { try decoder.decode(Stamped.self, from: Data(#"{"at":"yesterday"}"#.utf8)) }
        #expect(throws: DecodingError.self) { try decoder.decode(Stamped.self, from: Data(#"{"at":1796554203}"#.utf8)) }
    }

    @Test("offsets and fractional seconds are read as RFC 3339 defines them")
    func offsetsAndFractions() {
        let utc = Date(timeIntervalSince1970: 1_796_556_603)
        #expect(UTCTimestamp.date(from: "2026-12-06T17:00:03+05:30") == utc)
        #expect(UTCTimestamp.date(from: "2026-12-06T06:30:03-05:00") == utc)
        #expect(UTCTimestamp.date(from: "2026-12-06t11:30:03z") == utc)
        #expect(UTCTimestamp.date(from: "2026-12-06T11:30:03.25Z") == Date(timeIntervalSince1970: 1_796_556_603.25))
        #expect(UTCTimestamp.date(from: "2024-02-29T00:00:00Z") == Date(timeIntervalSince1970: 1_709_164_800))
    }

    @Test("anything else is refused", arguments: [
        "", "2026-12-06", "2026-12-06T11:30:03", "2026-12-06 11:30:03Z", "2026-12-06T11:30:03+0530",
        "2026-12-06T11:30:03+05:30:00", "2026-12-06T11:30:03Zjunk", "2026-12-06T11:30:03.Z", "2026-13-06T11:30:03Z",
        "2026-00-06T11:30:03Z", "2026-02-29T11:30:03Z", "2100-02-29T00:00:00Z", "2026-04-31T00:00:00Z",
        "2026-12-06T24:00:00Z", "2026-12-06T11:60:03Z", "2026-12-06T11:30:60Z", "2026-12-06T11:30:03+24:00",
        "+026-12-06T11:30:03Z", "2026-1a-06T11:30:03Z", "２０２６-12-06T11:30:03Z",
    ])
    func refused(text: String) {
        #expect(UTCTimestamp.date(from: text) == nil)
    }
}
