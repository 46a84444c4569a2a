internal import CProtobufC

/// Owns one message unpacked by `protobuf_c_message_unpack`: protobuf-c allocates it
/// in an arena, freed as a whole with this object.
final class CUnpackedMessage {
    let layout: CMessageLayout
    private let arena: CArena
    private let message: UnsafeMutablePointer<ProtobufCMessage>

    /// Unpacks `bytes` with the layout's descriptor; nil when protobuf-c rejects them.
    init?(_ bytes: UnsafeRawBufferPointer, layout: CMessageLayout) {
        // Strings are at most the input; structs and arrays add a few times that.
        let arena = CArena(capacity: min(bytes.count * 3 + 1024, 1 << 20))
        var allocator = arena.unpackAllocator
        let data = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self)
        guard let message = protobuf_c_message_unpack(layout.descriptor, &allocator, bytes.count, data) else {
            return nil
        }
        self.layout = layout
        self.arena = arena
        self.message = message
    }

    /// Lends the message memory for reading.
    func withMemory<R>(_ body: (UnsafeRawPointer) throws(WireError) -> R) throws(WireError) -> R {
        try withExtendedLifetime(arena) { () throws(WireError) -> R in try body(UnsafeRawPointer(message)) }
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
