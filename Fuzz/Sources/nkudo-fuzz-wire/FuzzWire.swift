import NKudoContract
@testable import NKudoWire

/// The message types every input is decoded as: the tests' kitchen-sink message, which
/// has every field kind NKudoWire supports (nested and recursive messages, maps, oneofs,
/// timestamps), and the real contract's request bodies that reach the control plane
/// from outside (agents enrolling and sending heartbeats, tenants applying plans).
private let messageTypes: [any ProtoMessage.Type] = [
    KitchenSink.self,
    HeartbeatRequest.self,
    EnrollRequest.self,
    ApplyPlanRequest.self,
]

/// libFuzzer entry point: the input is decoded as binary protobuf and as JSON (strict
/// and lenient) into each of ``messageTypes``, and unpacked unmerged by protobuf-c.
/// Decoding may fail with a `WireError`, never crash or leak; whatever decodes must
/// re-encode and decode to the same message in both encodings.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzWire(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    for type in messageTypes {
        fuzz(type, bytes)
    }
    return 0
}

private func fuzz<Message: ProtoMessage>(_: Message.Type, _ bytes: [UInt8]) {
    let limits = WireLimits(maxBytes: 1 << 20, maxDepth: 32)
    if let message = try? Message(serializedBytes: bytes, limits: limits) {
        roundTrip(message)
    }
    unpackUnmerged(Message.protoMessageSchema, bytes, limits)
    for ignoreUnknown in [false, true] {
        let options = JSONDecodingOptions(ignoreUnknownFields: ignoreUnknown)
        if let message = try? Message(jsonBytes: bytes, options: options, limits: limits) {
            roundTrip(message)
        }
    }
}

/// protobuf-c also unpacks the input as it is (validated by `WireScanner`, not merged by
/// `WireMerger`), so that its own merging and oneof switching, which the decoder keeps
/// away from it, stay under the sanitizers with our C layouts. The result may differ
/// from the decoder's (that is why the merger exists), so it is only read.
private func unpackUnmerged(_ schema: MessageSchema, _ bytes: [UInt8], _ limits: WireLimits) {
    let layout = CMessageLayout.of(schema)
    bytes.withUnsafeBytes { buffer in
        guard (try? WireScanner(limits: limits).scan(buffer, layout: layout)) != nil,
              let unpacked = CUnpackedMessage(buffer, layout: layout) else { return }
        _ = try? unpacked.withMemory { (memory) throws(WireError) -> ProtoFields in
            try CMessageReader().read(memory, layout: layout)
        }
    }
}

private func roundTrip<Message: ProtoMessage>(_ message: Message) {
    let name = Message.protoMessageSchema.fullName
    guard let binary = try? message.serializedBytes() else {
        fatalError("\(name): a decoded message failed to encode to binary")
    }
    guard let again = try? Message(serializedBytes: binary), (try? again.serializedBytes()) == binary else {
        fatalError("\(name): binary round trip changed the message")
    }
    // JSON is compared as JSON: it cannot carry NaN payloads, which binary keeps.
    guard let json = try? message.jsonBytes(), let fromJSON = try? Message(jsonBytes: json),
          (try? fromJSON.jsonBytes()) == json else {
        fatalError("\(name): JSON round trip changed the message")
    }
}
