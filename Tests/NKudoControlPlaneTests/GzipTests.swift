import NKudoGzip
import Testing

/// gzip as the Connect and gRPC paths decompress request bodies.
@Suite("gzip")
struct GzipTests {
    static let first = Array("{\"tenant_id\":\"a\"}".utf8)
    static let second = Array(",\"more\"".utf8)

    @Test("one member round-trips")
    func roundTrip() throws {
        #expect(try Gzip.decompress(Gzip.compress(Self.first), limit: 1 << 20) == Self.first)
        #expect(try Gzip.decompress(Gzip.compress([]), limit: 0) == [])
    }

    @Test("members one after the other are all decompressed, as gzip(1) does")
    func members() throws {
        let data = try Gzip.compress(Self.first) + Gzip.compress(Self.second) + Gzip.compress([])
        #expect(try Gzip.decompress(data, limit: 1 << 20) == Self.first + Self.second)
    }

    @Test("anything after the last member, or a member cut short, is refused", arguments: [
        Array("GARBAGE".utf8), [0, 0, 0, 0], [0x1F], [0x1F, 0x8B], [0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 3, 0x4B],
    ])
    func trailing(_ tail: [UInt8]) throws {
        let data = try Gzip.compress(Self.first) + tail
        #expect(throws: Gzip.Failure.self) { try Gzip.decompress(data, limit: 1 << 20) }
    }

    @Test("the limit counts the output of every member")
    func limitAcrossMembers() throws {
        let member = try Gzip.compress([UInt8](repeating: 0, count: 600 * 1024))
        #expect(try Gzip.decompress(member, limit: 1 << 20).count == 600 * 1024)
        #expect(throws: Gzip.TooLarge.self) { try Gzip.decompress(member + member, limit: 1 << 20) }
    }
}
