/// Binary protobuf through libprotobuf-c: messages are laid out in C memory and packed
/// by `protobuf_c_message_pack`; input is scanned, merged where protobuf-c would merge
/// (``WireMerger``), unpacked by `protobuf_c_message_unpack` and read back.
enum BinaryCodec {
    static func encode(_ fields: ProtoFields) throws(WireError) -> [UInt8] {
        let layout = CMessageLayout.of(fields.schema)
        let arena = CArena()
        let message = try CMessageWriter(arena: arena).write(fields, layout: layout)
        return withExtendedLifetime(arena) { CPacker.pack(message) }
    }

    static func decode(_ bytes: [UInt8], schema: MessageSchema, limits: WireLimits) throws(WireError) -> ProtoFields {
        if bytes.count > limits.maxBytes {
            throw WireError(code: .tooLarge, messageName: schema.fullName,
                            reason: "\(bytes.count) bytes exceed the limit of \(limits.maxBytes)")
        }
        let layout = CMessageLayout.of(schema)
        let result = bytes.withUnsafeBytes { buffer in
            Result { () throws(WireError) -> ProtoFields in
                if try WireScanner(limits: limits).scan(buffer, layout: layout),
                   let merged = WireMerger.merged(buffer, layout: layout) {
                    return try merged.withUnsafeBytes { merged in
                        Result { () throws(WireError) -> ProtoFields in try unpack(merged, layout: layout) }
                    }.get()
                }
                return try unpack(buffer, layout: layout)
            }
        }
        return try result.get()
    }

    private static func unpack(_ bytes: UnsafeRawBufferPointer, layout: CMessageLayout) throws(WireError) -> ProtoFields {
        guard let unpacked = CUnpackedMessage(bytes, layout: layout) else {
            throw WireError(code: .malformedBinary, messageName: layout.schema.fullName, reason: "libprotobuf-c rejected the input")
        }
        return try unpacked.withMemory { (memory) throws(WireError) -> ProtoFields in
            try CMessageReader().read(memory, layout: layout)
        }
    }
}
