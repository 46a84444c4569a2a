/// Writes the fields of messages as canonical proto3 JSON straight into the output:
/// proto field names, fields without presence printed with their defaults, fields with
/// presence only when set.
///
/// Generated messages call it from ``ProtoMessage/writeJSON(to:)`` with each field's
/// schema index, in declaration order, between ``beginMessage(_:)`` and
/// ``endMessage(_:)``.
public struct JSONFieldWriter {
    var output: JSONWriter
    /// Whether the current object already holds a member (the next one needs a comma).
    private var needsComma = false
    /// The schema of the message being written (its keys).
    private unowned(unsafe) var schema: MessageSchema

    /// What ``endMessage(_:)`` restores: the enclosing message's schema.
    public struct Scope {
        unowned(unsafe) let schema: MessageSchema
    }

    init(capacity: Int, schema: MessageSchema) {
        output = JSONWriter(capacity: capacity)
        self.schema = schema
    }

    /// Opens the object of a message of `schema`.
    public mutating func beginMessage(_ schema: MessageSchema) -> Scope {
        let scope = Scope(schema: self.schema)
        self.schema = schema
        output.byte(UInt8(ascii: "{"))
        needsComma = false
        return scope
    }

    /// Closes the object opened by ``beginMessage(_:)``.
    public mutating func endMessage(_ scope: Scope) {
        output.byte(UInt8(ascii: "}"))
        schema = scope.schema
        needsComma = true
    }

    // The generic entry points are inlinable so that the generated code gets them
    // specialized for its field types; the output work stays in the helpers below them.

    /// A scalar or enum without presence: always printed.
    @inlinable
    public mutating func scalar<T: ProtoScalar>(_ index: Int, _ value: T) {
        key(index)
        value.writeJSONValue(to: &self)
    }

    /// A scalar or enum with presence, or the member of a oneof: printed when set.
    @inlinable
    public mutating func optionalScalar<T: ProtoScalar>(_ index: Int, _ value: T?) {
        guard let value else { return }
        scalar(index, value)
    }

    /// A repeated scalar or enum: always printed (`[]` when empty).
    @inlinable
    public mutating func repeatedScalar<T: ProtoScalar>(_ index: Int, _ values: [T]) {
        key(index)
        punctuation(UInt8(ascii: "["))
        for position in values.indices {
            if position > 0 { punctuation(UInt8(ascii: ",")) }
            values[position].writeJSONValue(to: &self)
        }
        punctuation(UInt8(ascii: "]"))
    }

    /// A singular message, or the message member of a oneof: printed when set.
    @inlinable
    public mutating func message<T: ProtoMessage>(_ index: Int, _ value: T?) throws(WireError) {
        guard let value else { return }
        key(index)
        try value.writeJSON(to: &self)
    }

    /// A repeated message: always printed (`[]` when empty).
    @inlinable
    public mutating func repeatedMessage<T: ProtoMessage>(_ index: Int, _ values: [T]) throws(WireError) {
        key(index)
        punctuation(UInt8(ascii: "["))
        for position in values.indices {
            if position > 0 { punctuation(UInt8(ascii: ",")) }
            try values[position].writeJSON(to: &self)
        }
        punctuation(UInt8(ascii: "]"))
    }

    /// The key of a member (after a comma when one came before).
    @usableFromInline
    mutating func key(_ index: Int) {
        if needsComma { output.byte(UInt8(ascii: ",")) }
        needsComma = true
        output.raw(schema.jsonKeys[index])
    }

    @usableFromInline
    mutating func punctuation(_ byte: UInt8) {
        output.byte(byte)
    }

    /// A map: always printed (`{}` when empty), entries in key order.
    public mutating func map<K: ProtoScalar & Comparable, V: ProtoScalar>(_ index: Int, _ value: [K: V]) {
        key(index)
        output.byte(UInt8(ascii: "{"))
        for (position, entry) in value.sorted(by: { $0.key < $1.key }).enumerated() {
            if position > 0 { output.byte(UInt8(ascii: ",")) }
            output.string(ProtoJSONEncoder.mapKey(entry.key.protoValue))
            output.byte(UInt8(ascii: ":"))
            entry.value.writeJSONValue(to: &self)
        }
        output.byte(UInt8(ascii: "}"))
    }

    /// A message in dynamic form (the default of ``ProtoMessage/writeJSON(to:)``).
    mutating func write(_ fields: ProtoFields) throws(WireError) {
        try ProtoJSONEncoder.writeMessage(fields, into: &output)
    }
}
