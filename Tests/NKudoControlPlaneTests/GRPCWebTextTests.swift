import Foundation
import Testing

@testable import NKudoControlPlane

/// gRPC-Web's base64 text mode: decoding in 4-character groups (padding in the middle of a
/// body), encoding with padding, refusal of anything else.
@Suite("gRPC-Web text")
struct GRPCWebTextTests {
    @Test("encoding agrees with Foundation's base64 for every length and value")
    func encode() throws {
        var generator = SystemRandomNumberGenerator()
        for length in 0..<70 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            #expect(GRPCWebText.encode(bytes) == Array(Data(bytes).base64EncodedString().utf8))
            #expect(try GRPCWebText.decode(GRPCWebText.encode(bytes)) == bytes)
        }
        #expect(GRPCWebText.encode(Array(0...255)).count == 344)
    }

    @Test("chunks encoded one by one, padding and all, decode as the whole")
    func paddedChunks() throws {
        let chunks: [[UInt8]] = [[0, 0, 0, 0, 7], Array("a".utf8), Array("bc".utf8), [], [0x80, 0, 0, 0, 1, 0xFF]]
        let text = chunks.flatMap(GRPCWebText.encode)
        #expect(String(decoding: text, as: UTF8.self) == "AAAAAAc=YQ==YmM=gAAAAAH/")
        #expect(try GRPCWebText.decode(text) == chunks.flatMap { $0 })
    }

    @Test("a streamed body decodes its complete groups and keeps the rest for the next chunk")
    func groups() throws {
        let text = Array("YWJjZGVm".utf8)
        let first = try GRPCWebText.decodeGroups(text[0..<6])
        #expect(first.bytes == Array("abc".utf8))
        #expect(first.consumed == 4)
        let rest = try GRPCWebText.decodeGroups(text[4...])
        #expect(rest.bytes == Array("def".utf8))
        #expect(rest.consumed == 4)
    }

    @Test("anything but the alphabet and its padding is refused, with the offending byte's offset", arguments: [
        ("YWJj\r\nZGVm", GRPCWebText.Failure.invalidCharacter(offset: 4)),
        ("YW-j", .invalidCharacter(offset: 2)),
        ("YW_j", .invalidCharacter(offset: 2)),
        ("Y===", .invalidCharacter(offset: 1)),
        ("====", .invalidCharacter(offset: 0)),
        ("YQ=j", .invalidCharacter(offset: 3)),
        ("YWJj ", .truncated),
        ("YWJjZA", .truncated),
        ("YWJj\u{0}AAA", .invalidCharacter(offset: 4)),
        ("YWJjé===", .invalidCharacter(offset: 4)),
    ])
    func refused(text: String, failure: GRPCWebText.Failure) {
        #expect(throws: failure) { try GRPCWebText.decode(Array(text.utf8)) }
    }
}
