/// Typed access to the dynamic form, used by generated messages.
extension ProtoFields {
    private func mismatch(_ index: Int, _ value: ProtoValue) -> WireError {
        WireError(code: .invalidValue, messageName: schema.fullName, location: schema.fields[index].name,
                  reason: "value \(value) does not match the field type")
    }

    /// A singular scalar or enum; the default when absent.
    public func scalar<T: ProtoScalar>(_ index: Int, as type: T.Type = T.self) throws(WireError) -> T {
        guard let value = values[index] else { return T.protoDefault }
        guard let typed = T(protoValue: value) else { throw mismatch(index, value) }
        return typed
    }

    /// A scalar or enum with presence; nil when absent.
    public func optionalScalar<T: ProtoScalar>(_ index: Int, as type: T.Type = T.self) throws(WireError) -> T? {
        guard let value = values[index] else { return nil }
        guard let typed = T(protoValue: value) else { throw mismatch(index, value) }
        return typed
    }

    /// A repeated scalar or enum.
    public func repeatedScalar<T: ProtoScalar>(_ index: Int, as type: T.Type = T.self) throws(WireError) -> [T] {
        guard let value = values[index] else { return [] }
        guard case .list(let elements) = value else { throw mismatch(index, value) }
        var result: [T] = []
        result.reserveCapacity(elements.count)
        for element in elements {
            guard let typed = T(protoValue: element) else { throw mismatch(index, element) }
            result.append(typed)
        }
        return result
    }

    /// A singular message; nil when absent.
    public func message<T: ProtoMessage>(_ index: Int, as type: T.Type = T.self) throws(WireError) -> T? {
        guard let value = values[index] else { return nil }
        guard case .message(let fields) = value else { throw mismatch(index, value) }
        return try T(protoFields: fields)
    }

    /// A repeated message.
    public func repeatedMessage<T: ProtoMessage>(_ index: Int, as type: T.Type = T.self) throws(WireError) -> [T] {
        guard let value = values[index] else { return [] }
        guard case .list(let elements) = value else { throw mismatch(index, value) }
        var result: [T] = []
        result.reserveCapacity(elements.count)
        for element in elements {
            guard case .message(let fields) = element else { throw mismatch(index, element) }
            result.append(try T(protoFields: fields))
        }
        return result
    }

    /// A map with scalar keys and values.
    public func map<K: ProtoScalar, V: ProtoScalar>(_ index: Int, as type: [K: V].Type = [K: V].self) throws(WireError) -> [K: V] {
        guard let value = values[index] else { return [:] }
        guard case .map(let entries) = value else { throw mismatch(index, value) }
        var result: [K: V] = [:]
        for entry in entries {
            guard let key = K(protoValue: entry.key), let mapped = V(protoValue: entry.value) else {
                throw mismatch(index, value)
            }
            result[key] = mapped
        }
        return result
    }

    /// Sets a singular scalar or enum.
    public mutating func setScalar<T: ProtoScalar>(_ index: Int, _ value: T) {
        values[index] = value.protoValue
    }

    /// Sets a scalar or enum with presence (nil = absent).
    public mutating func setOptionalScalar<T: ProtoScalar>(_ index: Int, _ value: T?) {
        values[index] = value?.protoValue
    }

    /// Sets a repeated scalar or enum.
    public mutating func setRepeatedScalar<T: ProtoScalar>(_ index: Int, _ value: [T]) {
        values[index] = .list(value.map(\.protoValue))
    }

    /// Sets a singular message (nil = absent).
    public mutating func setMessage<T: ProtoMessage>(_ index: Int, _ value: T?) {
        values[index] = value.map { .message($0.protoFields) }
    }

    /// Sets a repeated message.
    public mutating func setRepeatedMessage<T: ProtoMessage>(_ index: Int, _ value: [T]) {
        values[index] = .list(value.map { .message($0.protoFields) })
    }

    /// Sets a map; entries are ordered by key so the encoding is deterministic.
    public mutating func setMap<K: ProtoScalar & Comparable, V: ProtoScalar>(_ index: Int, _ value: [K: V]) {
        values[index] = .map(value.sorted { $0.key < $1.key }.map {
            ProtoValue.MapEntry(key: $0.key.protoValue, value: $0.value.protoValue)
        })
    }
}
