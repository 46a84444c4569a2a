import Foundation
import Testing
@testable import NKudoWire

/// Inputs the fuzzer found; each must decode (or fail) and round-trip unchanged.
@Suite("Fuzzer regressions")
struct FuzzRegressionTests {
    @Test("inputs found by nkudo-fuzz-wire", arguments: [
        "yCgoaGFyAHIAaCRhiowKiP////8oKCgoKCg=", // a double NaN with a payload
        "2gEA2gEA", // the same map key twice
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
}
