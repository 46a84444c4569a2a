internal import CProtobufC

/// Lays a message out in C memory (owned by an arena) the way its libprotobuf-c
/// descriptor describes it, so `protobuf_c_message_pack` can serialize it.
struct CMessageWriter {
    let arena: CArena

    /// The C message for `fields`, allocated in the arena.
    func write(_ fields: ProtoFields, layout: CMessageLayout) throws(WireError) -> UnsafeMutableRawPointer {
        let message = try arena.allocate(layout.size)
        message.storeBytes(of: UnsafePointer(layout.descriptor), as: UnsafePointer<ProtobufCMessageDescriptor>.self)
        for fieldLayout in layout.fields {
            guard let value = fields.values[fieldLayout.schemaIndex] else { continue }
            try write(value, field: fieldLayout, into: message, messageName: layout.schema.fullName)
        }
        return message
    }

    private func write(_ value: ProtoValue, field: CFieldLayout, into message: UnsafeMutableRawPointer, messageName: String) throws(WireError) {
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
            let array = try arena.allocate(stride * elements.count)
            for (position, element) in elements.enumerated() {
                try store(element, field: field, at: array + position * stride, messageName: messageName)
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
        try store(value, field: field, at: slot, messageName: messageName)
    }

    private func store(_ value: ProtoValue, field: CFieldLayout, at slot: UnsafeMutableRawPointer, messageName: String) throws(WireError) {
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
            slot.storeBytes(of: ProtobufCBinaryData(len: v.count, data: try arena.copy(v)), as: ProtobufCBinaryData.self)
        case (.binary, .string(let v)):
            let utf8 = v.utf8
            if utf8.contains(0) {
                throw WireError(code: .invalidString, messageName: messageName, location: field.field.name,
                                reason: "string contains a NUL character, which protobuf-c cannot carry")
            }
            slot.storeBytes(of: ProtobufCBinaryData(len: utf8.count, data: try arena.copy(utf8)), as: ProtobufCBinaryData.self)
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
