import Foundation
import NKudoContract
import Testing
@testable import NKudoWire

/// Generated messages encode and decode straight between their fields and the wire (C
/// structs for binary, bytes for JSON); messages without generated code go through the
/// dynamic form. Both must give the same bytes, the same messages and the same errors:
/// the contract's fixtures, and thousands of mutations of them, through both.
@Suite("Generated codecs agree with the dynamic form")
struct GeneratedCodecTests {
    /// A decoded message as its binary encoding in dynamic form (`==` on a NaN is false),
    /// or the error.
    enum Outcome: Equatable, CustomStringConvertible {
        case message([UInt8])
        case failure(WireError)

        init(_ fields: ProtoFields) throws(WireError) {
            self = .message(try BinaryCodec.encode(fields))
        }

        var description: String {
            switch self {
            case .message(let bytes): return "message \(bytes)"
            case .failure(let error): return "error \(error)"
            }
        }
    }

    static func generatedBinary<M: ProtoMessage>(_: M.Type, _ bytes: [UInt8]) -> Outcome {
        do { return try Outcome(M(serializedBytes: bytes).protoFields) } catch { return .failure(error) }
    }

    static func dynamicBinary<M: ProtoMessage>(_: M.Type, _ bytes: [UInt8]) -> Outcome {
        do {
            let fields = try BinaryCodec.decode(bytes, schema: M.protoMessageSchema, limits: .default)
            return try Outcome(M(protoFields: fields).protoFields)
        } catch {
            return .failure(error)
        }
    }

    static func generatedJSON<M: ProtoMessage>(_: M.Type, _ bytes: [UInt8], _ options: JSONDecodingOptions) -> Outcome {
        do { return try Outcome(M(jsonBytes: bytes, options: options).protoFields) } catch { return .failure(error) }
    }

    static func dynamicJSON<M: ProtoMessage>(_: M.Type, _ bytes: [UInt8], _ options: JSONDecodingOptions) -> Outcome {
        do {
            let fields = try ProtoJSONDecoder.decode(bytes, schema: M.protoMessageSchema, options: options, limits: .default)
            return try Outcome(M(protoFields: fields).protoFields)
        } catch {
            return .failure(error)
        }
    }

    static func encodings<M: ProtoMessage>(_: M.Type, _ binary: [UInt8]) throws -> (generated: [[UInt8]], dynamic: [[UInt8]]) {
        let message = try M(serializedBytes: binary)
        return ([try message.serializedBytes(), try message.jsonBytes()],
                [try BinaryCodec.encode(message.protoFields), try ProtoJSONEncoder.encode(message.protoFields)])
    }

    @Test("both write the same binary and JSON", arguments: Fixture.all)
    func sameEncodings(fixture: Fixture) throws {
        let type = try #require(fixture.messageType)
        let (generated, dynamic) = try Self.encodings(type, fixture.binary)
        #expect(generated == dynamic)
    }

    @Test("both decode mutated binary alike", arguments: Fixture.all)
    func mutatedBinary(fixture: Fixture) throws {
        let type = try #require(fixture.messageType)
        let valid = try fixture.binary
        var generator = MutationRandom(seed: UInt64(truncatingIfNeeded: fixture.messageName.utf8.reduce(17) { $0 &* 31 &+ Int($1) }))
        var inputs = [valid, valid + valid]
        for _ in 0..<150 where !valid.isEmpty {
            var bytes = valid
            for _ in 0..<Int.random(in: 1...3, using: &generator) {
                bytes[Int.random(in: 0..<bytes.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
            }
            if Bool.random(using: &generator) { bytes.removeLast(Int.random(in: 0..<bytes.count, using: &generator)) }
            inputs.append(bytes)
        }
        for bytes in inputs {
            let generated = Self.generatedBinary(type, bytes)
            let dynamic = Self.dynamicBinary(type, bytes)
            #expect(generated == dynamic, "\(fixture): \(bytes)")
        }
    }

    @Test("both decode mutated JSON alike, strict and lenient", arguments: Fixture.all)
    func mutatedJSON(fixture: Fixture) throws {
        let type = try #require(fixture.messageType)
        let valid = try fixture.json
        var generator = MutationRandom(seed: UInt64(truncatingIfNeeded: fixture.messageName.utf8.reduce(29) { $0 &* 31 &+ Int($1) }))
        let document = try JSONComparison.parse(valid)
        var inputs = [valid, Array("null".utf8), Array(" {} ".utf8), Array("[]".utf8), Array("{\"a\":1,}".utf8),
                      JSONComparison.render(JSONComparison.camelCased(document, schema: type.protoMessageSchema))]
        for _ in 0..<60 where !valid.isEmpty {
            var bytes = valid
            bytes[Int.random(in: 0..<bytes.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
            inputs.append(bytes)
        }
        for _ in 0..<200 {
            inputs.append(JSONComparison.render(Self.mutate(document, &generator)))
        }
        for bytes in inputs {
            for options in [JSONDecodingOptions(ignoreUnknownFields: false), JSONDecodingOptions(ignoreUnknownFields: true)] {
                let generated = Self.generatedJSON(type, bytes, options)
                let dynamic = Self.dynamicJSON(type, bytes, options)
                #expect(generated == dynamic, "\(fixture): \(String(decoding: bytes, as: UTF8.self))")
            }
        }
    }

    @Test("integers of 19 and more digits decode alike: the limits exactly, past them an error, never a trap", arguments: [
        "9223372036854775807", "-9223372036854775808", "9223372036854775808", "9999999999999999999", "-9999999999999999999",
        "\"9999999999999999999\"", "\"-9223372036854775809\"", "18446744073709551615", "99999999999999999999999",
        "1000000000000000000", "2147483648", "-2147483649",
    ])
    func longIntegers(number: String) {
        for field in ["heartbeat_seq", "cpu_cores_total", "memory_bytes_total"] {
            let bytes = Array("{\"\(field)\": \(number)}".utf8)
            let options = JSONDecodingOptions(ignoreUnknownFields: false)
            let generated = Self.generatedJSON(HeartbeatRequest.self, bytes, options)
            #expect(generated == Self.dynamicJSON(HeartbeatRequest.self, bytes, options), "\(field): \(number)")
        }
        let maximum = try? HeartbeatRequest(jsonBytes: Array("{\"heartbeat_seq\": \(number)}".utf8))
        #expect((maximum?.heartbeatSeq).map(String.init) == (Int64(number) != nil ? number : nil))
    }

    @Test("a NUL in a map key is refused by both, as in a value: the message could not be encoded to binary")
    func nulInMapKey() {
        let options = JSONDecodingOptions(ignoreUnknownFields: false)
        for labels in [#"{"c\u0000": "v"}"#, #"{"c": "v\u0000"}"#] {
            let bytes = Array(#"{"hostname": "h", "labels": \#(labels)}"#.utf8)
            #expect(Self.generatedJSON(EnrollRequest.self, bytes, options) == Self.dynamicJSON(EnrollRequest.self, bytes, options))
            do {
                _ = try EnrollRequest(jsonBytes: bytes)
                Issue.record("\(labels) decoded")
            } catch {
                #expect(error.code == .invalidString && error.description.contains("$.labels"), "\(error)")
            }
        }
    }

    @Test("binary timestamps outside 0001 ... 9999 or with nanoseconds past a second are refused by both; the limits decode",
          arguments: [
              (Int64.max, Int32(0), false), (ProtoTimestamp.maxSeconds + 1, 0, false), (ProtoTimestamp.minSeconds - 1, 0, false),
              (Int64.min, 0, false), (0, -1, false), (0, 1_000_000_000, false),
              (ProtoTimestamp.maxSeconds, 999_999_999, true), (ProtoTimestamp.minSeconds, 0, true), (1_770_379_201, 5, true),
          ])
    func binaryTimestampRange(seconds: Int64, nanos: Int32, valid: Bool) throws {
        var fields = ProtoFields(schema: ProtoTimestamp.protoMessageSchema)
        fields.values = [.int64(seconds), .int32(nanos)]
        var heartbeat = ProtoFields(schema: HeartbeatRequest.protoMessageSchema)
        let sentAt = try #require(HeartbeatRequest.protoMessageSchema.fields.firstIndex { $0.name == "sent_at" })
        heartbeat[sentAt] = .message(fields)
        let bytes = try BinaryCodec.encode(heartbeat)
        let generated = Self.generatedBinary(HeartbeatRequest.self, bytes)
        #expect(generated == Self.dynamicBinary(HeartbeatRequest.self, bytes))
        if valid {
            #expect(try HeartbeatRequest(serializedBytes: bytes).sentAt == ProtoTimestamp(seconds: seconds, nanos: nanos))
        } else {
            #expect(throws: WireError.self) { try HeartbeatRequest(serializedBytes: bytes) }
        }
    }

    @Test("a timestamp out of range and an invalid string in one message: both decoders name the same one first")
    func timestampAndStringErrors() throws {
        // Found by a 10-minute libFuzzer run: the dynamic reader checked every string before any timestamp, the
        // generated decoder checks them field by field, so the two refused this heartbeat with different errors.
        let bytes = Array(try #require(Data(base64Encoded: Self.timestampAndInvalidString)))
        let generated = Self.generatedBinary(HeartbeatRequest.self, bytes)
        #expect(generated == Self.dynamicBinary(HeartbeatRequest.self, bytes))
        #expect(throws: WireError.self) { try HeartbeatRequest(serializedBytes: bytes) }
    }

    static let timestampAndInvalidString = "CiRlMWYyYTNiNC1jNWQ2LTRlN2YtOGE5Yi0wYzFkMmUzZjRhNWIQgaMFGgUxLjQuMiIGdWJ1bnR1KgVhbWQ2NDIQNi44LjAtNDUtZ2VuZXJpYzocenJoLWVkZ2UtMDEuZXhhbXBsZS5pbnRlcm5hbEBASICAgICACFCAwJX3429YAWABascBCiQ5YThiN2M2ZC01ZTRmLTRhM2ItOGMyZC0xZTBmOWE4YjdjNmQSFHdlYi1mcm9udGVuZC0wMSDwn4yQGgdSVU5OSU5HIgdydW5uaW5nKAQwgEA6C3ZtbGludXgtNi42QkUvdmFyL2xpYi9ua3Vkby1lZGdlL3Ztcy85YThiN2M2ZC01ZTRmLTRhM2ItOGMyZC0xZTBmOWE4YjdjNmQvZGlzay5yYXdKDHRhcC05YThiN2M2ZFDV+AJaDAi+r5fMBhCIgN6+AXKAAQokYzBmZmVlMDEtNTY3OC00YWJjLThkZWYtMDEyMzQ1Njc4OWFjEgtpbl9wcm9ncmVzcxoMVk1fQk9PVF9TTE9XIjFndWVzdCBkaWQgbm90IGFuc3dlciB2bW0ucGluZyB3aXRoaW4gNXM7IHJldHJ5aW5nKggIv6+XzAYQATADetEBCgwIwK+XzLHW+QYQ0QMQQBiAgICAgAgggICAgIACKhQKBC92YXIQgMCV9+NvGICAgICAQDIGdWJ1bnR1OgUyNC4wNEIQNi44LjAtNDUtZ2VuZXJpgUoFYW1kNjRSMAgBEAEYASIob3BlbiAvZGV2L2t2bTogb2sgKGdyb3VwIGt2bSwgbW9kZSAwNjYwKVo8CgNicjASETUyOjU0OjAwOmFiOmNkOmVmGg4xMC4yMC4zMC40MC8yNBoQZmQwMDphYmNkOjo0MC82NCABYgNicjCCASQzZjZjMWEyZS04YjRkLTRmN2EtOWMyZS01ZDFiN2U4YTlmMDGKASRiMmQ0ZTYtM2ZhMThjLTRlNWYtOGE3Yi05YzBkMWUyZjNhNGKSASQ3YzllMmY0YS02YjhkLTRjMWUtYTNmNS0wYjJkNGU2ZjhhOWOaAQsIwa+XzAYQgJTvOqIBiQEIARABGg1uZXR3b3LrIHJlYWR5IhBuYi1wZWVyLTdmM2E5YzJlKgsxMDAuOTIuMTQuNzIjaHR0cHM6Ly9hcGkubmV0YmlyZC5leGFtcGxlLmNvbTo0NDM6DW5ldC1hY21lLWVkZ2VADEgRUAFYAWIZenJoLWVkZ2UtMDEubmV0YmlyZC5jbG91ZKoBKAokNGQ1ZTZmNzAtODE5Mi00YTNiLWJjNGQtNWU2ZjdhOGI5YzBkEAOwASq6AeQBCm8KHGRlYmlhbi0xMi1nZW5lcmljY2xvdWQucWNvdzISR3NoYTI1Njo4ZjQzNDM0NjY0OGY2Yjk2ZGY4OWRkYTkwMWM1MTc2YjEwYTZkODM5NjFkZDNjMWFjODhiNTliMmRjMzI3YWE0GICAgKQBIAEKXQoLdm1saW51ei02LjESR3NoYTI1NjoyYzI2YjQ2YjY4ZmZjNjhmZjk5YjQ1M2MxZDMwNDEzNDEzNDIyZDcwNjQ4M2JmYTBmOThhNWU4ODYyNjZlN2FlGMDo7wMgAhIHY29uc29sZRICaXASBXBhbmlj"

    /// The document with one to three values replaced, duplicated or renamed.
    static func mutate(_ document: JSONValue, _ generator: inout MutationRandom) -> JSONValue {
        var result = document
        for _ in 0..<Int.random(in: 1...3, using: &generator) {
            result = mutateOne(result, &generator, depth: 0)
        }
        return result
    }

    static let replacements: [JSONValue] = [
        .null, .bool(true), .number("0"), .number("7"), .number("-3"), .number("2.5"), .number("1e3"),
        .number("4294967296"), .number("-2147483649"), .number("123456789012345678901"), .number("9999999999999999999"),
        .string("-9223372036854775809"), .string(""), .string("x"),
        .string("12"), .string("-0"), .string("+5"), .string("1.0"), .string("SUCCEEDED"), .string("BOGUS"),
        .string("a\u{0}b"), .string("caf\u{E9}"), .string("2026-02-06T12:00:01.5Z"), .string("2026-13-01T00:00:00Z"),
        .array([]), .array([.null]), .array([.string("a"), .number("1")]), .object([]),
        .object([("seconds", .string("5"))]),
    ]

    static func mutateOne(_ value: JSONValue, _ generator: inout MutationRandom, depth: Int) -> JSONValue {
        switch value {
        case .object(var members) where !members.isEmpty && (depth == 0 || Int.random(in: 0..<3, using: &generator) > 0):
            let index = Int.random(in: 0..<members.count, using: &generator)
            switch Int.random(in: 0..<6, using: &generator) {
            case 0: members.append(members[index])
            case 1: members[index].key = "unknown_\(index)"
            case 2: members.insert((members[index].key, replacements[Int.random(in: 0..<replacements.count, using: &generator)]), at: index)
            default: members[index].value = mutateOne(members[index].value, &generator, depth: depth + 1)
            }
            return .object(members)
        case .array(var elements) where !elements.isEmpty && Bool.random(using: &generator):
            let index = Int.random(in: 0..<elements.count, using: &generator)
            elements[index] = mutateOne(elements[index], &generator, depth: depth + 1)
            return .array(elements)
        default:
            return replacements[Int.random(in: 0..<replacements.count, using: &generator)]
        }
    }
}

/// A seeded random number generator (SplitMix64), so every run tries the same mutations.
struct MutationRandom: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
