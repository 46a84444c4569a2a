@testable import NKudoWire

/// libFuzzer entry point: the input is decoded as binary protobuf and as JSON (strict
/// and lenient) into the kitchen-sink message of the tests, which has every field kind
/// NKudoWire supports (nested and recursive messages, maps, oneofs, timestamps).
/// Decoding may fail with a `WireError`, never crash; whatever decodes must re-encode
/// and decode to the same message in both encodings.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzWire(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let limits = WireLimits(maxBytes: 1 << 20, maxDepth: 32)
    if let message = try? KitchenSink(serializedBytes: bytes, limits: limits) {
        roundTrip(message)
    }
    for ignoreUnknown in [false, true] {
        let options = JSONDecodingOptions(ignoreUnknownFields: ignoreUnknown)
        if let message = try? KitchenSink(jsonBytes: bytes, options: options, limits: limits) {
            roundTrip(message)
        }
    }
    return 0
}

private func roundTrip(_ message: KitchenSink) {
    guard let binary = try? message.serializedBytes() else {
        fatalError("a decoded message failed to encode to binary")
    }
    guard let again = try? KitchenSink(serializedBytes: binary), again.serializedBytes == binary else {
        fatalError("binary round trip changed the message")
    }
    // JSON is compared as JSON: it cannot carry NaN payloads, which binary keeps.
    guard let json = try? message.jsonBytes(), let fromJSON = try? KitchenSink(jsonBytes: json),
          (try? fromJSON.jsonBytes()) == json else {
        fatalError("JSON round trip changed the message")
    }
}

extension KitchenSink {
    fileprivate var serializedBytes: [UInt8]? { try? serializedBytes() }
}
