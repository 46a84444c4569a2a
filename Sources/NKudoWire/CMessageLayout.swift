internal import CProtobufC
import Synchronization

/// How one value of a field is held in C memory.
enum CStorage {
    case int32, int64, uint32, uint64, float, double, bool
    /// `ProtobufCBinaryData`: bytes, and strings (so embedded NULs and lengths are explicit).
    case binary
    /// A pointer to a nested message.
    case message

    var size: Int {
        switch self {
        case .int32, .uint32, .float, .bool: return 4
        case .int64, .uint64, .double, .message: return 8
        case .binary: return MemoryLayout<ProtobufCBinaryData>.size
        }
    }

    var alignment: Int {
        switch self {
        case .int32, .uint32, .float, .bool: return 4
        case .int64, .uint64, .double, .message, .binary: return 8
        }
    }
}

/// Where one field of a message lives in the C struct protobuf-c packs and unpacks.
struct CFieldLayout {
    /// Index of the field in the message schema.
    let schemaIndex: Int
    let field: FieldSchema
    let storage: CStorage
    /// Offset of the value (or of the array pointer for repeated fields); the members
    /// of a oneof share theirs.
    let offset: Int
    /// Offset of the `has_` flag, the element count, or the oneof case; 0 when unused.
    let quantifierOffset: Int
    /// The layout of nested messages and of map entries.
    let child: CMessageLayout?

    var isRepeated: Bool {
        switch field.cardinality {
        case .repeated, .map: return true
        case .implicit, .explicit: return false
        }
    }

    var isMap: Bool {
        if case .map = field.cardinality { return true }
        return false
    }

    /// Whether a `protobuf_c_boolean has_` flag records presence.
    var hasFlag: Bool {
        field.cardinality == .explicit && field.oneofIndex == nil && storage != .message
    }

    /// What protobuf-c may be given at most once per message (see ``WireMerger``): each
    /// singular message field, and each oneof (all its members share the key); nil for
    /// every other field. Unique within one message layout.
    var mergeKey: Int? {
        if let oneof = field.oneofIndex { return -1 - oneof }
        if !isRepeated, storage == .message { return schemaIndex }
        return nil
    }
}

/// How a field's presence and multiplicity show in C memory.
enum CPresence: UInt8 {
    /// A proto3 scalar without presence: the value alone (zero is not packed).
    case implicit
    /// A `has_` flag next to the value.
    case hasFlag
    /// A member of a oneof: the oneof's case holds its field number.
    case oneofMember
    /// A nested message: a non-null pointer.
    case pointer
    /// A repeated or map field: an element count and an array.
    case repeated
}

/// A field's place in the C struct in plain values (no references to count), indexed by
/// its schema index: what the generated code's reads and writes go through.
struct CSlot {
    var offset: Int
    var quantifierOffset: Int
    var number: Int32
    var storage: CStorage
    var presence: CPresence
    /// The layout of nested messages and map entries (layouts are immortal).
    var child: Unmanaged<CMessageLayout>?
}

/// What ``WireScanner`` needs of a field number, in plain values.
struct CScanEntry {
    /// Position in ``CMessageLayout/fields``; -1 for a number the message does not define.
    var position: Int32 = -1
    /// The wire type the field is written with (unpacked).
    var wireType: UInt8 = 0
    /// Whether the packed (length-delimited) encoding is accepted too.
    var packable = false
    /// The field's bit among the merge keys seen in one message (0: no merge key).
    var mergeBit: UInt64 = 0
    var child: Unmanaged<CMessageLayout>?
}

/// The C struct layout of one message type and the libprotobuf-c descriptor that
/// describes it, built once per type from the generated schema.
///
/// Layouts and descriptors are process-wide and immortal: they are built under the
/// registry's lock, never mutated afterwards, and never freed.
final class CMessageLayout: @unchecked Sendable {
    // @unchecked: all stored properties are written only while the registry lock is
    // held during construction and are read-only once the layout is published.
    let schema: MessageSchema
    let descriptor: UnsafeMutablePointer<ProtobufCMessageDescriptor>
    private(set) var size = 0
    /// Fields sorted by number, as protobuf-c requires.
    private(set) var fields: [CFieldLayout] = []
    private(set) var fieldByNumber: [Int32: Int] = [:]
    /// One slot per field, by schema index.
    let slots: UnsafeMutablePointer<CSlot>
    /// Scan entries of field numbers 0 ... ``denseScanLimit``; larger numbers go through
    /// ``fieldByNumber``.
    let scanTable: UnsafeMutablePointer<CScanEntry>
    let denseScanLimit: Int
    /// Arena bytes the last encoding of this type used: the next one starts with a chunk
    /// that size, so a message usually costs one chunk.
    let arenaHint = Atomic<Int>(0)

    private init(schema: MessageSchema) {
        self.schema = schema
        self.descriptor = UnsafeMutablePointer<ProtobufCMessageDescriptor>.allocate(capacity: 1)
        self.slots = UnsafeMutablePointer<CSlot>.allocate(capacity: max(schema.fields.count, 1))
        self.denseScanLimit = min(Int(schema.fields.map(\.number).max() ?? 0), 1024)
        self.scanTable = UnsafeMutablePointer<CScanEntry>.allocate(capacity: denseScanLimit + 1)
        scanTable.initialize(repeating: CScanEntry(), count: denseScanLimit + 1)
    }

    /// The scan entry of a field number (position -1 when unknown).
    @inline(__always)
    func scanEntry(_ number: UInt64) -> CScanEntry {
        if number <= UInt64(denseScanLimit) { return scanTable[Int(number)] }
        guard let position = fieldByNumber[Int32(truncatingIfNeeded: number)] else { return CScanEntry() }
        return Self.scanEntry(fields[position], position: position)
    }

    private static func scanEntry(_ field: CFieldLayout, position: Int) -> CScanEntry {
        let expected = field.isMap ? WireType.lengthDelimited : field.field.type.wireType
        var packable = false
        if case .repeated = field.field.cardinality, expected != .lengthDelimited { packable = true }
        return CScanEntry(
            position: Int32(position), wireType: expected.rawValue, packable: packable,
            mergeBit: field.mergeKey.map { 1 << UInt64($0 & 63) } ?? 0,
            child: field.child.map { Unmanaged.passUnretained($0) })
    }

    /// The layout of a message type, built on first use.
    static func of(_ schema: MessageSchema) -> CMessageLayout {
        registry.withLock { layouts in
            layout(for: schema, in: &layouts)
        }
    }

    private static let registry = Mutex<[ObjectIdentifier: CMessageLayout]>([:])

    private static func layout(for schema: MessageSchema, in layouts: inout [ObjectIdentifier: CMessageLayout]) -> CMessageLayout {
        if let existing = layouts[ObjectIdentifier(schema)] {
            return existing
        }
        let layout = CMessageLayout(schema: schema)
        // Published before its fields are built so recursive message types find it.
        layouts[ObjectIdentifier(schema)] = layout
        layout.build(in: &layouts)
        return layout
    }

    private func build(in layouts: inout [ObjectIdentifier: CMessageLayout]) {
        var offset = MemoryLayout<ProtobufCMessage>.size
        func place(_ size: Int, _ alignment: Int) -> Int {
            offset = (offset + alignment - 1) / alignment * alignment
            defer { offset += size }
            return offset
        }
        let oneofCaseOffsets = schema.oneofs.map { _ in place(4, 4) }
        // The members of a oneof share one slot, a C union as protoc-gen-c lays it out:
        // protobuf-c relies on it. When a second member arrives on the wire,
        // `parse_oneof_member` frees and clears the previous member through the *new*
        // member's address, and `protobuf_c_message_free_unpacked` frees only the member
        // the case names. With a slot per member, the previous member leaked (or a value
        // of the wrong type was freed as a pointer). Oneof members carry no default value
        // (`default_value` stays nil), so `message_init_generic` leaves the union zeroed.
        let oneofValueOffsets = schema.oneofs.indices.map { oneof in
            let members = schema.fields.filter { $0.oneofIndex == oneof }.map { Self.storage(of: $0.type) }
            return place(members.map(\.size).max() ?? 0, members.map(\.alignment).max() ?? 1)
        }
        let order = schema.fields.indices.sorted { schema.fields[$0].number < schema.fields[$1].number }
        for index in order {
            let field = schema.fields[index]
            let storage = Self.storage(of: field.type)
            var child: CMessageLayout?
            switch field.cardinality {
            case .map(let keyType):
                let entry = Self.mapEntrySchema(of: field, in: schema, keyType: keyType)
                child = CMessageLayout.layout(for: entry, in: &layouts)
            default:
                if case .message(let type) = field.type {
                    child = CMessageLayout.layout(for: type.protoMessageSchema, in: &layouts)
                }
            }
            let quantifier: Int
            let value: Int
            switch field.cardinality {
            case .repeated, .map:
                quantifier = place(MemoryLayout<Int>.size, MemoryLayout<Int>.alignment)
                value = place(8, 8)
            case .implicit, .explicit:
                if let oneof = field.oneofIndex {
                    quantifier = oneofCaseOffsets[oneof]
                    value = oneofValueOffsets[oneof]
                } else {
                    quantifier = field.cardinality == .explicit && storage != .message ? place(4, 4) : 0
                    value = place(storage.size, storage.alignment)
                }
            }
            fields.append(CFieldLayout(
                schemaIndex: index, field: field,
                storage: field.isMap ? .message : storage,
                offset: value, quantifierOffset: quantifier, child: child))
        }
        size = (offset + 7) / 8 * 8
        for (position, field) in fields.enumerated() {
            fieldByNumber[field.field.number] = position
            let presence: CPresence
            if field.isRepeated {
                presence = .repeated
            } else if field.field.oneofIndex != nil {
                presence = .oneofMember
            } else if field.hasFlag {
                presence = .hasFlag
            } else if field.storage == .message {
                presence = .pointer
            } else {
                presence = .implicit
            }
            (slots + field.schemaIndex).initialize(to: CSlot(
                offset: field.offset, quantifierOffset: field.quantifierOffset, number: field.field.number,
                storage: field.storage, presence: presence, child: field.child.map { Unmanaged.passUnretained($0) }))
        }
        for (position, field) in fields.enumerated() where Int(field.field.number) <= denseScanLimit {
            scanTable[Int(field.field.number)] = Self.scanEntry(field, position: position)
        }
        fillDescriptor()
    }

    private func fillDescriptor() {
        let cFields = UnsafeMutablePointer<ProtobufCFieldDescriptor>.allocate(capacity: max(fields.count, 1))
        for (position, layout) in fields.enumerated() {
            let field = layout.field
            var label = PROTOBUF_C_LABEL_NONE
            var flags: UInt32 = 0
            switch field.cardinality {
            case .repeated(let packed):
                label = PROTOBUF_C_LABEL_REPEATED
                if packed { flags |= PROTOBUF_C_FIELD_FLAG_PACKED.rawValue }
            case .map:
                label = PROTOBUF_C_LABEL_REPEATED
            case .explicit:
                label = field.oneofIndex == nil ? PROTOBUF_C_LABEL_OPTIONAL : PROTOBUF_C_LABEL_NONE
            case .implicit:
                label = PROTOBUF_C_LABEL_NONE
            }
            if field.oneofIndex != nil { flags |= PROTOBUF_C_FIELD_FLAG_ONEOF.rawValue }
            let cType = layout.isMap ? PROTOBUF_C_TYPE_MESSAGE : Self.cType(of: field.type)
            let childDescriptor = layout.child.map { UnsafeRawPointer($0.descriptor) }
            (cFields + position).initialize(to: ProtobufCFieldDescriptor(
                name: CStrings.immortal(field.name),
                id: UInt32(bitPattern: field.number),
                label: label,
                type: cType,
                quantifier_offset: UInt32(layout.quantifierOffset),
                offset: UInt32(layout.offset),
                descriptor: childDescriptor,
                default_value: nil,
                flags: flags,
                reserved_flags: 0,
                reserved2: nil,
                reserved3: nil))
        }
        let byName = UnsafeMutablePointer<UInt32>.allocate(capacity: max(fields.count, 1))
        for (position, index) in fields.indices.sorted(by: { fields[$0].field.name < fields[$1].field.name }).enumerated() {
            byName[position] = UInt32(index)
        }
        var ranges: [ProtobufCIntRange] = []
        var previous: Int32?
        for (position, layout) in fields.enumerated() {
            if previous == nil || layout.field.number != previous! + 1 {
                ranges.append(ProtobufCIntRange(start_value: layout.field.number, orig_index: UInt32(position)))
            }
            previous = layout.field.number
        }
        ranges.append(ProtobufCIntRange(start_value: 0, orig_index: UInt32(fields.count)))
        let cRanges = UnsafeMutablePointer<ProtobufCIntRange>.allocate(capacity: ranges.count)
        cRanges.initialize(from: ranges, count: ranges.count)

        let fullName = schema.fullName
        let packageName = fullName.split(separator: ".").dropLast().joined(separator: ".")
        descriptor.initialize(to: ProtobufCMessageDescriptor(
            magic: nkudo_protobuf_c_message_descriptor_magic(),
            name: CStrings.immortal(fullName),
            short_name: CStrings.immortal(String(schema.name)),
            c_name: CStrings.immortal(fullName.split(separator: ".").joined(separator: "__")),
            package_name: CStrings.immortal(packageName),
            sizeof_message: size,
            n_fields: UInt32(fields.count),
            fields: UnsafePointer(cFields),
            fields_sorted_by_name: UnsafePointer(byName),
            n_field_ranges: UInt32(ranges.count - 1),
            field_ranges: UnsafePointer(cRanges),
            message_init: nil,
            reserved1: nil,
            reserved2: nil,
            reserved3: nil))
    }

    /// The implicit `<Field>Entry` message of a map field: key = 1, value = 2, both always
    /// written (as protoc does), read back with their defaults when absent.
    private static func mapEntrySchema(of field: FieldSchema, in schema: MessageSchema, keyType: FieldType) -> MessageSchema {
        MessageSchema(
            fullName: "\(schema.fullName).\(field.jsonName.prefix(1).uppercased())\(field.jsonName.dropFirst())Entry",
            fields: [
                FieldSchema(number: 1, name: "key", jsonName: "key", type: keyType, cardinality: .explicit),
                FieldSchema(number: 2, name: "value", jsonName: "value", type: field.type, cardinality: .explicit),
            ])
    }

    static func storage(of type: FieldType) -> CStorage {
        switch type {
        case .int32, .sint32, .sfixed32, .enumeration: return .int32
        case .int64, .sint64, .sfixed64: return .int64
        case .uint32, .fixed32: return .uint32
        case .uint64, .fixed64: return .uint64
        case .float: return .float
        case .double: return .double
        case .bool: return .bool
        case .string, .bytes: return .binary
        case .message: return .message
        }
    }

    private static func cType(of type: FieldType) -> ProtobufCType {
        switch type {
        case .int32: return PROTOBUF_C_TYPE_INT32
        case .sint32: return PROTOBUF_C_TYPE_SINT32
        case .sfixed32: return PROTOBUF_C_TYPE_SFIXED32
        case .int64: return PROTOBUF_C_TYPE_INT64
        case .sint64: return PROTOBUF_C_TYPE_SINT64
        case .sfixed64: return PROTOBUF_C_TYPE_SFIXED64
        case .uint32: return PROTOBUF_C_TYPE_UINT32
        case .fixed32: return PROTOBUF_C_TYPE_FIXED32
        case .uint64: return PROTOBUF_C_TYPE_UINT64
        case .fixed64: return PROTOBUF_C_TYPE_FIXED64
        case .float: return PROTOBUF_C_TYPE_FLOAT
        case .double: return PROTOBUF_C_TYPE_DOUBLE
        case .bool: return PROTOBUF_C_TYPE_BOOL
        case .enumeration: return PROTOBUF_C_TYPE_ENUM
        case .string, .bytes: return PROTOBUF_C_TYPE_BYTES
        case .message: return PROTOBUF_C_TYPE_MESSAGE
        }
    }
}

extension FieldSchema {
    var isMap: Bool {
        if case .map = cardinality { return true }
        return false
    }
}
