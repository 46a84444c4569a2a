import Foundation
import ProtocTestSupport
import Testing
@testable import NKudoWire

/// Random messages with every field kind round-trip through binary and JSON, and
/// protoc (an independent implementation) reads our bytes as we meant them.
@Suite("Property tests")
struct PropertyTests {
    static let seeds: [UInt64] = Array(1...200)

    @Test("binary round trip is lossless", arguments: seeds)
    func binaryRoundTrip(seed: UInt64) throws {
        var random = RandomMessages(seed: seed)
        let message = random.message()
        let decoded = try KitchenSink(serializedBytes: message.serializedBytes())
        #expect(decoded.fields == message.fields, "seed \(seed)")
    }

    @Test("JSON round trip is lossless", arguments: seeds)
    func jsonRoundTrip(seed: UInt64) throws {
        var random = RandomMessages(seed: seed)
        let message = random.message()
        let json = try message.jsonBytes()
        let decoded = try KitchenSink(jsonBytes: json)
        #expect(decoded.fields == message.fields, "seed \(seed): \(String(decoding: json, as: UTF8.self))")
        #expect(try decoded.serializedBytes() == message.serializedBytes())
    }

    @Test("protoc decodes our bytes and re-encodes them byte for byte", arguments: Array(seeds.prefix(40)))
    func protocAgrees(seed: UInt64) async throws {
        var random = RandomMessages(seed: seed)
        let ours = try random.message().serializedBytes()
        let text = try await KitchenSinkProtoc.run(["--decode=nkudo.test.KitchenSink"], input: ours)
        let again = try await KitchenSinkProtoc.run(["--encode=nkudo.test.KitchenSink"], input: text)
        #expect(again == ours, "seed \(seed)")
        let decoded = try KitchenSink(serializedBytes: again)
        #expect(try decoded.serializedBytes() == ours)
    }
}

/// protoc on `Fixtures/kitchen_sink.proto`.
enum KitchenSinkProtoc {
    static func run(_ arguments: [String], input: [UInt8]) async throws -> [UInt8] {
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appending(path: "Fixtures")
        return try await ProtocProcess.run(protoPath: directory.path, arguments: arguments, files: ["kitchen_sink.proto"], input: input)
    }
}
