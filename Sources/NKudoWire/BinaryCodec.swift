import Synchronization

/// Binary protobuf through libprotobuf-c: a message writes itself into C memory laid out
/// as its descriptor says (``BinaryFieldWriter``) and `protobuf_c_message_pack` packs it;
/// input is scanned, merged where protobuf-c would merge (``WireMerger``), unpacked by
/// `protobuf_c_message_unpack` into an arena and read back (``BinaryFieldReader``).
enum BinaryCodec {
    static func encode<Message: ProtoMessage>(_ message: Message) throws(WireError) -> [UInt8] {
        let layout = CMessageLayout.of(Message.protoMessageSchema)
        let hint = layout.arenaHint.load(ordering: .relaxed)
        let arena = CArena(capacity: hint + hint / 4)
        let writer = try BinaryFieldWriter.newMessage(layout, in: arena)
        try message.writeBinaryFields(to: writer)
        layout.arenaHint.store(arena.used, ordering: .relaxed)
        return withExtendedLifetime(arena) { CPacker.pack(writer.message) }
    }

    /// The encoding of a message in dynamic form (the reference the generated code is
    /// tested against).
    static func encode(_ fields: ProtoFields) throws(WireError) -> [UInt8] {
        let layout = CMessageLayout.of(fields.schema)
        let arena = CArena()
        return try withExtendedLifetime(arena) { () throws(WireError) -> [UInt8] in
            CPacker.pack(try CMessageWriter(arena: arena.state).write(fields, layout: layout))
        }
    }

    static func decode<Message: ProtoMessage>(_ bytes: [UInt8], as type: Message.Type, limits: WireLimits) throws(WireError) -> Message {
        try withUnpacked(bytes, schema: Message.protoMessageSchema, limits: limits) { (unpacked) throws(WireError) -> Message in
            try unpacked.withMemory { (memory) throws(WireError) -> Message in
                try Message(binaryFields: BinaryFieldReader(layout: unpacked.layout, message: memory))
            }
        }
    }

    /// The dynamic form of `bytes` (the reference the generated code is tested against).
    static func decode(_ bytes: [UInt8], schema: MessageSchema, limits: WireLimits) throws(WireError) -> ProtoFields {
        try withUnpacked(bytes, schema: schema, limits: limits) { (unpacked) throws(WireError) -> ProtoFields in
            try unpacked.withMemory { (memory) throws(WireError) -> ProtoFields in
                try CMessageReader().read(memory, layout: unpacked.layout)
            }
        }
    }

    private static func withUnpacked<R>(_ bytes: [UInt8], schema: MessageSchema, limits: WireLimits,
                                        _ body: (CUnpackedMessage) throws(WireError) -> R) throws(WireError) -> R {
        if bytes.count > limits.maxBytes {
            throw WireError(code: .tooLarge, messageName: schema.fullName,
                            reason: "\(bytes.count) bytes exceed the limit of \(limits.maxBytes)")
        }
        let layout = CMessageLayout.of(schema)
        let result = bytes.withUnsafeBytes { buffer in
            Result { () throws(WireError) -> R in
                if try WireScanner(limits: limits).scan(buffer, layout: layout),
                   let merged = WireMerger.merged(buffer, layout: layout) {
                    return try merged.withUnsafeBytes { merged in
                        Result { () throws(WireError) -> R in try body(unpack(merged, layout: layout)) }
                    }.get()
                }
                return try body(unpack(buffer, layout: layout))
            }
        }
        return try result.get()
    }

    private static func unpack(_ bytes: UnsafeRawBufferPointer, layout: CMessageLayout) throws(WireError) -> CUnpackedMessage {
        guard let unpacked = CUnpackedMessage(bytes, layout: layout) else {
            throw WireError(code: .malformedBinary, messageName: layout.schema.fullName, reason: "libprotobuf-c rejected the input")
        }
        return unpacked
    }
}
