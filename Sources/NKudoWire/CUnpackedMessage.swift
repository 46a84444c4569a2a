internal import CProtobufC

/// Owns one message unpacked by `protobuf_c_message_unpack` and frees it with
/// `protobuf_c_message_free_unpacked`.
final class CUnpackedMessage {
    private let message: UnsafeMutablePointer<ProtobufCMessage>

    /// Unpacks `bytes` with the layout's descriptor; nil when protobuf-c rejects them.
    init?(_ bytes: UnsafeRawBufferPointer, layout: CMessageLayout) {
        let data = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self)
        guard let message = protobuf_c_message_unpack(layout.descriptor, nil, bytes.count, data) else {
            return nil
        }
        self.message = message
    }

    deinit {
        protobuf_c_message_free_unpacked(message, nil)
    }

    /// Lends the message memory for reading.
    func withMemory<R>(_ body: (UnsafeRawPointer) throws(WireError) -> R) throws(WireError) -> R {
        try body(UnsafeRawPointer(message))
    }
}

/// Serializes C message memory with `protobuf_c_message_pack`.
enum CPacker {
    static func pack(_ message: UnsafeMutableRawPointer) -> [UInt8] {
        let cMessage = UnsafePointer(message.assumingMemoryBound(to: ProtobufCMessage.self))
        let size = protobuf_c_message_get_packed_size(cMessage)
        return [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            count = size == 0 ? 0 : protobuf_c_message_pack(cMessage, buffer.baseAddress)
        }
    }
}
