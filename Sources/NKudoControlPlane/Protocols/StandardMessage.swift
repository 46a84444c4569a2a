import NKudoContract

// The messages of the standard gRPC services we serve beside the contract (health,
// server reflection) are grpc's contract, not ours: their schemas are written here
// against NKudoWire, field numbers as in grpc's `.proto` files, so they are encoded by
// libprotobuf-c like every contract message. Each wraps its dynamic fields.

/// A message of a standard gRPC service read and written through its dynamic fields.
protocol StandardMessage: ProtoMessage {
    /// The fields.
    var fields: ProtoFields { get set }
    /// Wraps fields.
    init(fields: ProtoFields)
}

extension StandardMessage {
    init() { self.init(fields: ProtoFields(schema: Self.protoMessageSchema)) }
    init(protoFields: ProtoFields) throws(WireError) { self.init(fields: protoFields) }
    var protoFields: ProtoFields { fields }

    func string(_ index: Int) -> String? { fields[index] == nil ? nil : (try? fields.scalar(index, as: String.self)) }
}

/// A field of a standard message (proto name as JSON name: these are never renamed).
func standardField(_ number: Int32, _ name: String, _ type: FieldType, _ cardinality: Cardinality = .implicit,
                   oneof: Int? = nil) -> FieldSchema {
    FieldSchema(number: number, name: name, jsonName: name, type: type, cardinality: oneof == nil ? cardinality : .explicit, oneofIndex: oneof)
}
