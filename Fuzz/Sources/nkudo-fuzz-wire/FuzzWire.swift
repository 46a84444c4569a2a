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
/// Decoding may fail with a `WireError`, never crash or leak; the generated codecs must
/// decode exactly as the dynamic form does (same message or same error); whatever
/// decodes must re-encode and decode to the same message in both encodings.
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
    let schema = Message.protoMessageSchema
    let binary = Result { () throws(WireError) in try Message(serializedBytes: bytes, limits: limits) }
    let dynamicBinary = Result { () throws(WireError) in
        try Message(protoFields: BinaryCodec.decode(bytes, schema: schema, limits: limits))
    }
    agree(binary, dynamicBinary, "binary")
    if case .success(let message) = binary {
        roundTrip(message)
    }
    unpackUnmerged(schema, bytes, limits)
    for ignoreUnknown in [false, true] {
        let options = JSONDecodingOptions(ignoreUnknownFields: ignoreUnknown)
        let json = Result { () throws(WireError) in try Message(jsonBytes: bytes, options: options, limits: limits) }
        let dynamicJSON = Result { () throws(WireError) in
            try Message(protoFields: ProtoJSONDecoder.decode(bytes, schema: schema, options: options, limits: limits))
        }
        agree(json, dynamicJSON, "JSON")
        if case .success(let message) = json {
            roundTrip(message)
        }
    }
}

/// The generated decoder's outcome is the dynamic form's: the same message (compared by
/// its binary encoding: `==` on a NaN is false), or the same error.
private func agree<Message: ProtoMessage>(_ generated: Result<Message, WireError>, _ dynamic: Result<Message, WireError>, _ encoding: String) {
    switch (generated, dynamic) {
    case (.success(let a), .success(let b))
        where (try? BinaryCodec.encode(a.protoFields)) == (try? BinaryCodec.encode(b.protoFields)):
        return
    case (.failure(let a), .failure(let b)) where a == b:
        return
    default:
        fatalError("\(Message.protoMessageSchema.fullName): generated \(encoding) decoding differs from the dynamic form: \(generated) vs \(dynamic)")
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
    guard (try? BinaryCodec.encode(message.protoFields)) == binary, (try? ProtoJSONEncoder.encode(message.protoFields)) == json else {
        fatalError("\(name): the generated encoders differ from the dynamic form")
    }
}
