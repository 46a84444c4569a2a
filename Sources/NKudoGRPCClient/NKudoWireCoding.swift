public import GRPCCore
public import NKudoWire

/// gRPC's serializer for contract messages: binary protobuf packed by NKudoWire
/// (libprotobuf-c), the same bytes every other transport sends; no second codec.
public struct NKudoWireSerializer<Message: ProtoMessage>: MessageSerializer {
    public init() {}

    public func serialize<Bytes: GRPCContiguousBytes>(_ message: Message) throws -> Bytes {
        Bytes(try message.serializedBytes())
    }
}

/// gRPC's deserializer for contract messages: NKudoWire's binary decoding (schema and
/// limits checked, then unpacked by libprotobuf-c).
public struct NKudoWireDeserializer<Message: ProtoMessage>: MessageDeserializer {
    let limits: WireLimits

    public init(limits: WireLimits = .default) {
        self.limits = limits
    }

    public func deserialize<Bytes: GRPCContiguousBytes>(_ serializedMessageBytes: Bytes) throws -> Message {
        let bytes = serializedMessageBytes.withUnsafeBytes { Array($0) }
        return try Message(serializedBytes: bytes, limits: limits)
    }
}

/// gRPC's serializer for a message encoded beforehand: the bytes as they are.
public struct EncodedMessageSerializer: MessageSerializer {
    public init() {}

    public func serialize<Bytes: GRPCContiguousBytes>(_ message: [UInt8]) throws -> Bytes {
        Bytes(message)
    }
}
