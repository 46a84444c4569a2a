import Testing
@testable import NKudoWire

/// Hostile binary input fails with a typed error naming the message and field; never a
/// crash, leak or hang.
@Suite("Hostile binary input")
struct HostileBinaryTests {
    func decodeError(_ bytes: [UInt8], limits: WireLimits = .default) -> WireError? {
        do {
            _ = try KitchenSink(serializedBytes: bytes, limits: limits)
            return nil
        } catch {
            return error
        }
    }

    @Test("truncated varint")
    func truncatedVarint() throws {
        let error = try #require(decodeError([0x08, 0xFF, 0xFF]))
        #expect(error.code == .malformedBinary)
        #expect(error.messageName == "nkudo.test.KitchenSink")
        #expect(error.location == "f_int32")
        #expect(error.description.contains("truncated varint"))
    }

    @Test("varint longer than ten bytes")
    func overlongVarint() throws {
        let error = try #require(decodeError([0x08] + Array(repeating: 0xFF, count: 10) + [0x01]))
        #expect(error.code == .malformedBinary)
    }

    @Test("length running past the end")
    func lengthPastEnd() throws {
        let error = try #require(decodeError([0x72, 0x05, 0x61]))
        #expect(error.location == "f_string")
        #expect(error.description.contains("past the end"))
    }

    @Test("wrong wire type for a known field")
    func wrongWireType() throws {
        let error = try #require(decodeError([0x75, 0x00, 0x00, 0x00, 0x00]))
        #expect(error.location == "f_string")
        #expect(error.description.contains("wrong wire type"))
    }

    @Test("field number zero and group wire types", arguments: [[0x00, 0x01], [0x0B, 0x0C], [0x0F, 0x00]] as [[UInt8]])
    func invalidTags(bytes: [UInt8]) throws {
        let error = try #require(decodeError(bytes))
        #expect(error.code == .malformedBinary)
    }

    @Test("invalid UTF-8 in a string")
    func invalidUTF8() throws {
        let error = try #require(decodeError([0x72, 0x02, 0xC3, 0x28]))
        #expect(error.code == .invalidString)
        #expect(error.location == "f_string")
    }

    @Test("embedded NUL in a string is rejected, not truncated")
    func embeddedNUL() throws {
        let error = try #require(decodeError([0x72, 0x03, 0x61, 0x00, 0x62]))
        #expect(error.code == .invalidString)
        #expect(error.description.contains("NUL"))
        var fields = ProtoFields(schema: KitchenSink.protoMessageSchema)
        fields[13] = .string("a\u{0}b")
        #expect(throws: WireError.self) { try KitchenSink(fields: fields).serializedBytes() }
    }

    @Test("input larger than the limit")
    func tooLarge() throws {
        let error = try #require(decodeError(Array(repeating: 0, count: 100), limits: WireLimits(maxBytes: 10)))
        #expect(error.code == .tooLarge)
    }

    @Test("nesting deeper than the limit")
    func tooDeep() throws {
        var bytes: [UInt8] = []
        for _ in 0..<100 {
            bytes = [0xE2, 0x01] + varint(bytes.count) + bytes
        }
        let error = try #require(decodeError(bytes, limits: WireLimits(maxDepth: 64)))
        #expect(error.code == .tooDeep)
        #expect(decodeError(bytes, limits: WireLimits(maxDepth: 200)) == nil)
    }

    @Test("unknown fields are skipped")
    func unknownFieldsSkipped() throws {
        let decoded = try KitchenSink(serializedBytes: [0xA8, 0x1F, 0x05, 0x08, 0x07])
        #expect(decoded.fields[0] == .int32(7))
    }

    @Test("random bytes never crash", arguments: Array(UInt64(1)...20))
    func randomBytes(seed: UInt64) {
        var generator = SplitMix64(seed: seed)
        for _ in 0..<500 {
            let bytes = (0..<Int.random(in: 0..<64, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            _ = try? KitchenSink(serializedBytes: bytes)
        }
    }

    @Test("mutated valid messages never crash", arguments: Array(UInt64(1)...20))
    func mutatedMessages(seed: UInt64) throws {
        var random = RandomMessages(seed: seed)
        var generator = SplitMix64(seed: seed &* 31)
        let valid = try random.message().serializedBytes()
        for _ in 0..<200 where !valid.isEmpty {
            var bytes = valid
            for _ in 0..<Int.random(in: 1...4, using: &generator) {
                bytes[Int.random(in: 0..<bytes.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
            }
            if Bool.random(using: &generator) { bytes.removeLast(Int.random(in: 0..<bytes.count, using: &generator)) }
            _ = try? KitchenSink(serializedBytes: bytes)
        }
    }

    private func varint(_ value: Int) -> [UInt8] {
        var value = UInt64(value)
        var bytes: [UInt8] = []
        repeat {
            let byte = UInt8(value & 0x7F)
            value >>= 7
            bytes.append(value == 0 ? byte : byte | 0x80)
        } while value != 0
        return bytes
    }
}
