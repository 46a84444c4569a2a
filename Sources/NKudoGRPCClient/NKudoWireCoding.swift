import GRPCCore
import NKudoWire

/// gRPC's serializer for contract messages: binary protobuf packed by NKudoWire
/// (libprotobuf-c), the same bytes every other transport sends; no second codec.
struct NKudoWireSerializer<Message: ProtoMessage>: MessageSerializer {
    func serialize<Bytes: GRPCContiguousBytes>(_ message: Message) throws -> Bytes {
        Bytes(try message.serializedBytes())
    }
}

/// gRPC's deserializer for contract messages: NKudoWire's binary decoding (schema and
/// limits checked, then unpacked by libprotobuf-c).
struct NKudoWireDeserializer<Message: ProtoMessage>: MessageDeserializer {
    func deserialize<Bytes: GRPCContiguousBytes>(_ serializedMessageBytes: Bytes) throws -> Message {
        let bytes = serializedMessageBytes.withUnsafeBytes { Array($0) }
        return try Message(serializedBytes: bytes)
    }
}

/// gRPC's serializer for a message encoded beforehand: the bytes as they are.
struct EncodedMessageSerializer: MessageSerializer {
    func serialize<Bytes: GRPCContiguousBytes>(_ message: [UInt8]) throws -> Bytes {
        Bytes(message)
    }
}
