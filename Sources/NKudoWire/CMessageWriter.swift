internal import CProtobufC

/// Lays a message in dynamic form out in C memory (owned by an arena) the way its
/// libprotobuf-c descriptor describes it, so `protobuf_c_message_pack` can serialize it.
/// Generated messages write themselves through ``BinaryFieldWriter`` instead.
struct CMessageWriter {
    /// The state of the arena that owns the memory (alive while the writer is used).
    let arena: UnsafeMutablePointer<CArena.State>

    /// The C message for `fields`, allocated in the arena.
    func write(_ fields: ProtoFields, layout: CMessageLayout) throws(WireError) -> UnsafeMutableRawPointer {
        let message = try BinaryFieldWriter.newMessage(Unmanaged.passUnretained(layout), in: arena).message
        try write(fields, layout: layout, into: message)
        return message
    }

    /// Writes `fields` into `message`, a zeroed C message of `layout`.
    func write(_ fields: ProtoFields, layout: CMessageLayout, into message: UnsafeMutableRawPointer) throws(WireError) {
        for fieldLayout in layout.fields {
            guard let value = fields.values[fieldLayout.schemaIndex] else { continue }
            try write(value, field: fieldLayout, layout: layout, into: message)
        }
    }

    private func write(_ value: ProtoValue, field: CFieldLayout, layout: CMessageLayout, into message: UnsafeMutableRawPointer) throws(WireError) {
        let messageName = layout.schema.fullName
        let slot = message + field.offset
        if field.isRepeated {
            let elements: [ProtoValue]
            switch value {
            case .list(let list):
                elements = list
            case .map(let entries):
                guard let entrySchema = field.child?.schema else { return }
                elements = entries.map { entry in
                    var fields = ProtoFields(schema: entrySchema)
                    fields.values = [entry.key, entry.value]
                    return .message(fields)
                }
            default:
                throw mismatch(field, value, messageName)
            }
            if elements.isEmpty { return }
            let stride = field.storage.size
            let array = try CArena.allocate(arena, stride * elements.count)
            for (position, element) in elements.enumerated() {
                try store(element, field: field, layout: layout, at: array + position * stride)
            }
            (message + field.quantifierOffset).storeBytes(of: elements.count, as: Int.self)
            slot.storeBytes(of: array, as: UnsafeMutableRawPointer.self)
            return
        }
        if let _ = field.field.oneofIndex {
            (message + field.quantifierOffset).storeBytes(of: UInt32(bitPattern: field.field.number), as: UInt32.self)
        } else if field.hasFlag {
            (message + field.quantifierOffset).storeBytes(of: Int32(1), as: Int32.self)
        }
        try store(value, field: field, layout: layout, at: slot)
    }

    private func store(_ value: ProtoValue, field: CFieldLayout, layout: CMessageLayout, at slot: UnsafeMutableRawPointer) throws(WireError) {
        let messageName = layout.schema.fullName
        let valueSlot = BinaryValueSlot(arena: arena, layoutReference: Unmanaged.passUnretained(layout),
                                        index: field.schemaIndex, pointer: slot)
        switch (field.storage, value) {
        case (.int32, .int32(let v)): slot.storeBytes(of: v, as: Int32.self)
        case (.int32, .enumeration(let v)): slot.storeBytes(of: v, as: Int32.self)
        case (.int64, .int64(let v)): slot.storeBytes(of: v, as: Int64.self)
        case (.uint32, .uint32(let v)): slot.storeBytes(of: v, as: UInt32.self)
        case (.uint64, .uint64(let v)): slot.storeBytes(of: v, as: UInt64.self)
        case (.float, .float(let v)): slot.storeBytes(of: v, as: Float.self)
        case (.double, .double(let v)): slot.storeBytes(of: v, as: Double.self)
        case (.bool, .bool(let v)): slot.storeBytes(of: v ? 1 : 0, as: Int32.self)
        case (.binary, .bytes(let v)):
            try valueSlot.store(bytes: v)
        case (.binary, .string(let v)):
            try valueSlot.store(string: v)
        case (.message, .message(let nested)):
            guard let child = field.child else { throw mismatch(field, value, messageName) }
            slot.storeBytes(of: try write(nested, layout: child), as: UnsafeMutableRawPointer.self)
        default:
            throw mismatch(field, value, messageName)
        }
    }

    private func mismatch(_ field: CFieldLayout, _ value: ProtoValue, _ messageName: String) -> WireError {
        WireError(code: .invalidValue, messageName: messageName, location: field.field.name,
                  reason: "value \(value) does not match the field type \(field.field.type.displayName)")
    }
}
