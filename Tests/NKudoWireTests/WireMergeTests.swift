import Foundation
import Testing
@testable import NKudoWire

/// A singular message field or a oneof that occurs more than once on the wire decodes as
/// protoc (the oracle) decodes it: message occurrences merge, the last oneof member wins,
/// a oneof's message member merges its occurrences since the oneof last switched.
@Suite("Merging on the wire")
struct WireMergeTests {
    /// Our decoding and protoc's, both re-encoded by us with map entries in key order
    /// (protoc's text format sorts them; we keep them in wire order).
    func decodings(_ bytes: [UInt8]) async throws -> (ours: [UInt8], protoc: [UInt8]) {
        let text = try await KitchenSinkProtoc.run(["--decode=nkudo.test.KitchenSink"], input: bytes)
        let protoc = try await KitchenSinkProtoc.run(["--encode=nkudo.test.KitchenSink"], input: text)
        let ours = try KitchenSink(serializedBytes: bytes)
        let theirs = try KitchenSink(serializedBytes: protoc)
        return (try KitchenSink(fields: Self.sortingMaps(ours.fields)).serializedBytes(),
                try KitchenSink(fields: Self.sortingMaps(theirs.fields)).serializedBytes())
    }

    @Test("repeated occurrences decode as in protoc", arguments: [
        // child {} twice: protobuf-c's merge_messages rejected it (a oneof set in neither).
        [0xE2, 0x01, 0x00, 0xE2, 0x01, 0x00],
        // child {f_int32: 5}, child {f_int64: 7} → child {f_int32: 5, f_int64: 7}
        [0xE2, 0x01, 0x02, 0x08, 0x05, 0xE2, 0x01, 0x02, 0x10, 0x07],
        // c_message {f_int32: 5}, c_message {f_int64: 7}: merged, not replaced
        [0x8A, 0x02, 0x02, 0x08, 0x05, 0x8A, 0x02, 0x02, 0x10, 0x07],
        // child {c_string: ""}, child {f_int64: 7}: the empty string stays selected
        [0xE2, 0x01, 0x03, 0xFA, 0x01, 0x00, 0xE2, 0x01, 0x02, 0x10, 0x07],
        // c_message {f_int32: 5}, c_string "A", c_message {f_int64: 7} → c_message {f_int64: 7}
        [0x8A, 0x02, 0x02, 0x08, 0x05, 0xFA, 0x01, 0x01, 0x41, 0x8A, 0x02, 0x02, 0x10, 0x07],
        // child {child {f_int32: 1}}, child {child {f_int64: 2}}: merged at depth two
        [0xE2, 0x01, 0x05, 0xE2, 0x01, 0x02, 0x08, 0x01, 0xE2, 0x01, 0x05, 0xE2, 0x01, 0x02, 0x10, 0x02],
        // f_timestamp twice: seconds from the first, nanos from the second
        [0xF2, 0x01, 0x02, 0x08, 0x01, 0xF2, 0x01, 0x02, 0x10, 0x02],
        // children (repeated) twice, each with child {} twice inside
        [0xEA, 0x01, 0x06, 0xE2, 0x01, 0x00, 0xE2, 0x01, 0x00, 0xEA, 0x01, 0x06, 0xE2, 0x01, 0x00, 0xE2, 0x01, 0x00],
    ] as [[UInt8]])
    func repeatedOccurrences(bytes: [UInt8]) async throws {
        let (ours, protoc) = try await decodings(bytes)
        #expect(ours == protoc)
    }

    @Test("concatenated random messages merge as in protoc", arguments: Array(PropertyTests.seeds.prefix(40)))
    func concatenatedMessages(seed: UInt64) async throws {
        var random = RandomMessages(seed: seed)
        let bytes = try random.message().serializedBytes() + random.message().serializedBytes()
        let (ours, protoc) = try await decodings(bytes)
        #expect(ours == protoc, "seed \(seed)")
    }

    @Test("input with nothing to merge is unpacked as it is")
    func nothingToMerge() throws {
        var random = RandomMessages(seed: 7)
        let bytes = try random.message().serializedBytes()
        let merged = bytes.withUnsafeBytes { WireMerger.merged($0, layout: CMessageLayout.of(KitchenSink.protoMessageSchema)) }
        #expect(merged == nil)
    }

    static func sortingMaps(_ fields: ProtoFields) -> ProtoFields {
        var fields = fields
        fields.values = fields.values.map { $0.map(sortingMaps) }
        return fields
    }

    static func sortingMaps(_ value: ProtoValue) -> ProtoValue {
        switch value {
        case .message(let fields): return .message(sortingMaps(fields))
        case .list(let values): return .list(values.map(sortingMaps))
        case .map(let entries):
            return .map(entries.map { .init(key: $0.key, value: sortingMaps($0.value)) }
                .sorted { "\($0.key)" < "\($1.key)" })
        default: return value
        }
    }
}
