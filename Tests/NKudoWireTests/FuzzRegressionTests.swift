import Foundation
import Testing
@testable import NKudoWire

/// Inputs the fuzzer found; each must decode (or fail) and round-trip unchanged.
///
/// The same inputs are files in `Fuzz/regressions/`, which `scripts/fuzz --replay`
/// replays through the fuzz target under AddressSanitizer and LeakSanitizer: a leak
/// only shows there, this suite checks what the input decodes to.
@Suite("Fuzzer regressions")
struct FuzzRegressionTests {
    @Test("inputs found by nkudo-fuzz-wire", arguments: [
        "yCgoaGFyAHIAaCRhiowKiP////8oKCgoKCg=", // a double NaN with a payload
        "2gEA2gEA", // the same map key twice
        // A oneof switching members (c_string, then c_message three times): protobuf-c
        // leaked the string when each oneof member had its own slot in C memory.
        "mgYA2igoKCgoKGgoKCgIKCgoKCgoKCgoKCgoKCgoKCgoKNIBKCgoKCgoKCgoKCgo0gEA+gEoKCgoKCgoKCgoKCgoKCgo2dfX1ygoKCgoKCgoKCgoKCgoKCgoKCgoKJAAwwGKAgCKAgAwAYoCADAN",
    ])
    func regression(base64: String) throws {
        let bytes = Array(try #require(Data(base64Encoded: base64)))
        guard let message = try? KitchenSink(serializedBytes: bytes) else { return }
        let binary = try message.serializedBytes()
        let json = try message.jsonBytes()
        let fromJSON = try KitchenSink(jsonBytes: json)
        #expect(try KitchenSink(serializedBytes: binary).serializedBytes() == binary)
        // JSON cannot carry NaN payloads (this input has one), so it is compared as JSON.
        #expect(try fromJSON.jsonBytes() == json)
    }

    /// The fuzzer's input decodes to its last oneof member (an empty `c_message`).
    @Test("the oneof of the leaking input keeps its last member")
    func leakingInputKeepsLastMember() throws {
        let base64 = "mgYA2igoKCgoKGgoKCgIKCgoKCgoKCgoKCgoKCgoKCgoKNIBKCgoKCgoKCgoKCgo0gEA+gEoKCgoKCgoKCgoKCgoKCgo2dfX1ygoKCgoKCgoKCgoKCgoKCgoKCgoKJAAwwGKAgCKAgAwAYoCADAN"
        let message = try KitchenSink(serializedBytes: Array(try #require(Data(base64Encoded: base64))))
        #expect(message.fields[30] == nil)
        #expect(message.fields[31] == nil)
        #expect(message.fields[32] == .message(try KitchenSink(serializedBytes: []).fields))
    }

    /// protobuf-c frees a oneof's previous member through the new member's address, so
    /// the members must share one slot (a C union). `WireMerger` keeps oneof switches
    /// away from protobuf-c, so the decoding tests below would pass without it.
    @Test("the members of a oneof share one slot in C memory")
    func oneofMembersShareOneSlot() {
        let layout = CMessageLayout.of(KitchenSink.protoMessageSchema)
        let members = layout.fields.filter { $0.field.oneofIndex == 0 }
        #expect(members.count == 3)
        #expect(Set(members.map(\.offset)).count == 1)
        #expect(Set(members.map(\.quantifierOffset)).count == 1)
    }

    /// A oneof whose members follow each other on the wire: the last one wins, as in
    /// protoc (the oracle), and nothing the earlier members held is freed twice or lost.
    /// Before the members shared one slot, protobuf-c freed the previous member through
    /// the new member's address: these inputs leaked, or crashed freeing an integer.
    @Test("a oneof switching members keeps the last one, as protoc does", arguments: [
        [0xFA, 0x01, 0x01, 0x41, 0x8A, 0x02, 0x00], // c_string "A", c_message {}
        [0x80, 0x02, 0x05, 0x8A, 0x02, 0x00, 0x80, 0x02, 0x07], // c_int32 5, c_message {}, c_int32 7
        [0x8A, 0x02, 0x02, 0x08, 0x05, 0xFA, 0x01, 0x01, 0x41], // c_message {f_int32: 5}, c_string "A"
        [0xFA, 0x01, 0x01, 0x41, 0x80, 0x02, 0x05, 0xFA, 0x01, 0x02, 0x42, 0x43], // c_string, c_int32, c_string
        // r_fixed32 [0x04030201], c_string "A", c_message {}: the count of r_fixed32 was
        // freed as a pointer.
        [0x92, 0x02, 0x04, 0x01, 0x02, 0x03, 0x04, 0xFA, 0x01, 0x01, 0x41, 0x8A, 0x02, 0x00],
    ] as [[UInt8]])
    func oneofSwitchingMembers(bytes: [UInt8]) async throws {
        let ours = try KitchenSink(serializedBytes: bytes).serializedBytes()
        let text = try await KitchenSinkProtoc.run(["--decode=nkudo.test.KitchenSink"], input: bytes)
        let protoc = try await KitchenSinkProtoc.run(["--encode=nkudo.test.KitchenSink"], input: text)
        #expect(ours == protoc)
    }
}
