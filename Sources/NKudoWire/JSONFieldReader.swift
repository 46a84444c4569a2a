#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads proto3 JSON straight into messages, one member at a time, from input whose
/// syntax ``JSONParser/validate(_:maxDepth:)`` has already checked (so every syntax
/// error is the one the tree parser reports, and this reader never meets one).
///
/// Generated messages call it from ``ProtoMessage/init(jsonReader:)``: ``beginMessage(_:)``,
/// then ``nextField(_:)`` in a loop, each returning a field's schema index whose value
/// the matching read consumes. It accepts and refuses what the dynamic decoder
/// (``ProtoJSONDecoder``) does, with the same errors and JSON paths; uncommon values
/// (escaped strings, fractions, exponents, floats, bytes, map keys) go through that
/// decoder's own code. Paths are built only for an error.
public struct JSONFieldReader {
    let bytes: UnsafeRawBufferPointer
    var position: Int
    private let rootName: String
    private let ignoreUnknown: Bool
    /// The JSON path of the value being read, outermost first.
    private var path: [PathComponent] = []
    /// Per open object, per oneof: the schema index of the member set (-1: none).
    private var oneofMembers: [Int] = []
    /// The message and field whose value is read next.
    private unowned(unsafe) var schema: MessageSchema
    private var fieldIndex = 0

    private enum PathComponent {
        /// A key: the offset of its opening quote.
        case key(Int)
        case index(Int)
    }

    /// The state of one object being read (see ``beginMessage(_:)``).
    public struct Object {
        unowned(unsafe) let schema: MessageSchema
        let oneofBase: Int
        var keyPushed = false
        var lastIndex = -1
    }

    init(bytes: UnsafeRawBufferPointer, rootName: String, ignoreUnknown: Bool, schema: MessageSchema) {
        self.bytes = bytes
        self.position = 0
        self.rootName = rootName
        self.ignoreUnknown = ignoreUnknown
        self.schema = schema
    }

    // MARK: - Objects

    /// Opens the object of a message of `schema`.
    public mutating func beginMessage(_ schema: MessageSchema) throws(WireError) -> Object {
        skipWhitespace()
        guard bytes[position] == UInt8(ascii: "{") else {
            throw fail("expected an object (\(schema.fullName)), found \(kindDescription())")
        }
        position += 1
        let base = oneofMembers.count
        for _ in 0..<schema.oneofs.count { oneofMembers.append(-1) }
        return Object(schema: schema, oneofBase: base)
    }

    /// The schema index of the next member's field, or nil at the end of the object.
    /// Unknown keys are skipped (lenient decoding) or refused.
    public mutating func nextField(_ object: inout Object) throws(WireError) -> Int? {
        while true {
            if object.keyPushed {
                path.removeLast()
                object.keyPushed = false
            }
            skipWhitespace()
            if bytes[position] == UInt8(ascii: ",") {
                position += 1
                skipWhitespace()
            }
            if bytes[position] == UInt8(ascii: "}") {
                position += 1
                oneofMembers.removeLast(object.schema.oneofs.count)
                return nil
            }
            let keyStart = position
            let index = try fieldIndex(ofKeyAt: keyStart, in: object.schema, after: object.lastIndex)
            skipWhitespace()
            position += 1 // ':'
            skipWhitespace()
            path.append(.key(keyStart))
            object.keyPushed = true
            guard let index else {
                if ignoreUnknown {
                    skipValue()
                    continue
                }
                throw fail("unknown field \"\(key(at: keyStart))\"", code: .unknownField)
            }
            object.lastIndex = index
            if let oneof = object.schema.fields[index].oneofIndex, bytes[position] != UInt8(ascii: "n") {
                let other = oneofMembers[object.oneofBase + oneof]
                if other >= 0, other != index {
                    throw fail("only one of the oneof \"\(object.schema.oneofs[oneof])\" may be set (also got \"\(object.schema.fields[other].name)\")")
                }
                oneofMembers[object.oneofBase + oneof] = index
            }
            schema = object.schema
            fieldIndex = index
            return index
        }
    }

    /// Reads a key (moving past it) and finds its field: the proto names from the one
    /// after the last field read first (canonical JSON keeps declaration order), then
    /// every name the schema accepts.
    private mutating func fieldIndex(ofKeyAt start: Int, in schema: MessageSchema, after last: Int) throws(WireError) -> Int? {
        position += 1
        var escaped = false
        while bytes[position] != UInt8(ascii: "\"") {
            if bytes[position] == UInt8(ascii: "\\") {
                escaped = true
                position += 1
            }
            position += 1
        }
        let text = UnsafeRawBufferPointer(rebasing: bytes[(start + 1)..<position])
        position += 1
        if !escaped {
            let names = schema.nameBytes
            var candidate = last + 1
            for _ in 0..<names.count {
                if candidate == names.count { candidate = 0 }
                let name = names[candidate]
                if name.count == text.count, name.withUnsafeBytes({ memcmp($0.baseAddress!, text.baseAddress!, text.count) == 0 }) {
                    return candidate
                }
                candidate += 1
            }
        }
        return schema.fieldIndex(named: key(at: start))
    }

    // MARK: - Values

    // The generic entry points are inlinable so that the generated code gets them
    // specialized for its field types; the parsing stays in the helpers below them.

    /// A scalar or enum without presence: the default for `null` (or an unknown enum
    /// name when unknown fields are ignored).
    @inlinable
    public mutating func scalar<T: ProtoScalar>(_ type: T.Type = T.self) throws(WireError) -> T {
        try optionalScalar(T.self) ?? T.protoDefault
    }

    /// A scalar or enum with presence, or a oneof member: nil for `null` (or an unknown
    /// enum name when unknown fields are ignored).
    @inlinable
    public mutating func optionalScalar<T: ProtoScalar>(_ type: T.Type = T.self) throws(WireError) -> T? {
        if skipNull() { return nil }
        guard let value = try single(fieldType()) else { return nil }
        return try typed(value)
    }

    /// A repeated scalar or enum: `[]` for `null`; unknown enum names are left out when
    /// unknown fields are ignored.
    @inlinable
    public mutating func repeatedScalar<T: ProtoScalar>(_ type: T.Type = T.self) throws(WireError) -> [T] {
        let elementType = fieldType()
        var result: [T] = []
        guard try beginElements() else { return result }
        var index = 0
        while try nextElement(index) {
            if let value = try single(elementType) { result.append(try typed(value)) }
            endElement()
            index += 1
        }
        return result
    }

    /// A singular message, or a oneof's message member: nil for `null`.
    @inlinable
    public mutating func message<T: ProtoMessage>(_ type: T.Type = T.self) throws(WireError) -> T? {
        if skipNull() { return nil }
        return try T(jsonReader: &self)
    }

    /// A repeated message: `[]` for `null`.
    @inlinable
    public mutating func repeatedMessage<T: ProtoMessage>(_ type: T.Type = T.self) throws(WireError) -> [T] {
        var result: [T] = []
        guard try beginElements() else { return result }
        var index = 0
        while try nextElement(index) {
            result.append(try T(jsonReader: &self))
            endElement()
            index += 1
        }
        return result
    }

    @inlinable
    func typed<T: ProtoScalar>(_ value: ProtoValue) throws(WireError) -> T {
        guard let typed = T(protoValue: value) else { throw mismatch() }
        return typed
    }

    /// The type of the field whose value is read next.
    @usableFromInline
    func fieldType() -> FieldType {
        schema.fields[fieldIndex].type
    }

    /// Opens an array: false for `null` (nothing to read), an error for another value.
    @usableFromInline
    mutating func beginElements() throws(WireError) -> Bool {
        if skipNull() { return false }
        guard bytes[position] == UInt8(ascii: "[") else {
            throw fail("expected an array, found \(kindDescription())")
        }
        position += 1
        return true
    }

    /// Moves to element `index` (its index on the path); false at the end of the array.
    /// `null` elements are refused.
    @usableFromInline
    mutating func nextElement(_ index: Int) throws(WireError) -> Bool {
        skipWhitespace()
        if bytes[position] == UInt8(ascii: ",") {
            position += 1
            skipWhitespace()
        }
        if bytes[position] == UInt8(ascii: "]") {
            position += 1
            return false
        }
        path.append(.index(index))
        if bytes[position] == UInt8(ascii: "n") { throw fail("null is not allowed in a list") }
        return true
    }

    /// Closes the element opened by ``nextElement(_:)``.
    @usableFromInline
    mutating func endElement() {
        path.removeLast()
    }

    /// A map: `{}` for `null`; a key given twice keeps its last value.
    public mutating func map<K: ProtoScalar, V: ProtoScalar>(_ type: [K: V].Type = [K: V].self) throws(WireError) -> [K: V] {
        let field = schema.fields[fieldIndex]
        guard case .map(let keyType) = field.cardinality else { throw mismatch() }
        if skipNull() { return [:] }
        guard bytes[position] == UInt8(ascii: "{") else {
            throw fail("expected an object (map), found \(kindDescription())")
        }
        position += 1
        var result: [K: V] = [:]
        let decoder = ProtoJSONDecoder.Decoder(rootName: rootName, ignoreUnknown: ignoreUnknown)
        while true {
            skipWhitespace()
            if bytes[position] == UInt8(ascii: ",") {
                position += 1
                skipWhitespace()
            }
            if bytes[position] == UInt8(ascii: "}") {
                position += 1
                return result
            }
            let keyStart = position
            let key = key(at: keyStart)
            skipString()
            skipWhitespace()
            position += 1 // ':'
            skipWhitespace()
            path.append(.key(keyStart))
            let mapKey = try decoder.mapKey(key, type: keyType, path: pathText())
            if bytes[position] == UInt8(ascii: "n") { throw fail("null is not allowed as a map value") }
            if let value = try single(field.type) {
                guard let typedKey = K(protoValue: mapKey) else { throw mismatch() }
                result[typedKey] = try typed(value)
            }
            path.removeLast()
        }
    }

    /// Skips the value of a field index the generated code does not know (never
    /// reached: ``nextField(_:)`` returns only indices of the message's schema).
    public mutating func skipUnexpected() throws(WireError) {
        throw mismatch()
    }

    /// The value of a message in dynamic form (the default of
    /// ``ProtoMessage/init(jsonReader:)``).
    mutating func dynamicMessage(_ schema: MessageSchema) throws(WireError) -> ProtoFields {
        let value = try parseValue()
        return try ProtoJSONDecoder.Decoder(rootName: rootName, ignoreUnknown: ignoreUnknown)
            .message(value, schema: schema, path: pathText())
    }

    /// A `google.protobuf.Timestamp` (an RFC 3339 string).
    mutating func timestamp() throws(WireError) -> ProtoTimestamp {
        skipWhitespace()
        guard bytes[position] == UInt8(ascii: "\"") else {
            throw fail("expected an RFC 3339 timestamp string, found \(kindDescription())")
        }
        if let text = plainString() {
            if let timestamp = ProtoTimestamp.parse(rfc3339: text) { return timestamp }
            throw fail(ProtoTimestamp.notRFC3339(UTF8Text.repairing(text)).reason)
        }
        guard case .string(let text) = try parseValue() else { throw mismatch() }
        do {
            return try ProtoTimestamp(rfc3339: text)
        } catch {
            throw fail(error.reason)
        }
    }

    /// One value of `type` (nil: an unknown enum name, ignored): common spellings read
    /// here, the rest by the dynamic decoder.
    @usableFromInline
    mutating func single(_ type: FieldType) throws(WireError) -> ProtoValue? {
        skipWhitespace()
        switch type {
        case .string:
            if let text = plainString() { return .string(UTF8Text.repairing(text)) }
        case .int32, .sint32, .sfixed32:
            let start = position
            if let value = plainInteger(), value >= Int64(Int32.min), value <= Int64(Int32.max) { return .int32(Int32(value)) }
            position = start
        case .uint32, .fixed32:
            let start = position
            if let value = plainInteger(), value >= 0, value <= Int64(UInt32.max) { return .uint32(UInt32(value)) }
            position = start
        case .int64, .sint64, .sfixed64:
            let start = position
            if let value = plainInteger() { return .int64(value) }
            position = start
        case .uint64, .fixed64:
            let start = position
            if let value = plainInteger(), value >= 0 { return .uint64(UInt64(value)) }
            position = start
        case .bool:
            if bytes[position] == UInt8(ascii: "t") {
                position += 4
                return .bool(true)
            }
            if bytes[position] == UInt8(ascii: "f") {
                position += 5
                return .bool(false)
            }
        case .enumeration(let enumSchema):
            let start = position
            if let text = plainString(), let number = enumSchema.number(of: UTF8Text.repairing(text)) {
                return .enumeration(number)
            }
            position = start
        case .message(let messageType):
            return .message(try messageType.init(jsonReader: &self).protoFields)
        case .float, .double, .bytes:
            break
        }
        let value = try parseValue()
        return try ProtoJSONDecoder.Decoder(rootName: rootName, ignoreUnknown: ignoreUnknown)
            .single(value, type: type, path: pathText())
    }

    // MARK: - Tokens

    @inline(__always)
    private mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x0A, 0x0D, 0x09: position += 1
            default: return
            }
        }
    }

    /// Skips a `null` (after whitespace); false when the value is something else.
    @usableFromInline
    mutating func skipNull() -> Bool {
        skipWhitespace()
        guard bytes[position] == UInt8(ascii: "n") else { return false }
        position += 4
        return true
    }

    /// The text of the string at `position` when it has no escapes (moving past it);
    /// nil otherwise (or when the value is not a string), leaving `position` alone.
    private mutating func plainString() -> UnsafeRawBufferPointer? {
        guard bytes[position] == UInt8(ascii: "\"") else { return nil }
        var end = position + 1
        while true {
            let byte = bytes[end]
            if byte == UInt8(ascii: "\"") { break }
            if byte == UInt8(ascii: "\\") { return nil }
            end += 1
        }
        defer { position = end + 1 }
        return UnsafeRawBufferPointer(rebasing: bytes[(position + 1)..<end])
    }

    /// An integer written as a JSON number without fraction or exponent, or as a string
    /// of such digits, of at most 18 digits (what `Int64(text)` reads the same way);
    /// nil for anything else, with `position` somewhere inside the value.
    private mutating func plainInteger() -> Int64? {
        let quoted = bytes[position] == UInt8(ascii: "\"")
        if quoted { position += 1 }
        let negative = position < bytes.count && bytes[position] == UInt8(ascii: "-")
        if negative { position += 1 }
        var value: Int64 = 0
        var digits = 0
        while position < bytes.count, bytes[position] >= UInt8(ascii: "0"), bytes[position] <= UInt8(ascii: "9") {
            // A 19th digit could overflow Int64 (a trap): such a number goes the long way.
            if digits == 18 { return nil }
            value = value * 10 + Int64(bytes[position] - UInt8(ascii: "0"))
            digits += 1
            position += 1
        }
        guard digits > 0 else { return nil }
        if quoted {
            guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else { return nil }
            position += 1
        } else if position < bytes.count {
            switch bytes[position] {
            case UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E"): return nil
            default: break
            }
        }
        return negative ? -value : value
    }

    /// The value at `position` as a tree (moving past it).
    private mutating func parseValue() throws(WireError) -> JSONValue {
        do {
            return try JSONParser.value(in: bytes, at: &position)
        } catch {
            throw WireError(code: .malformedJSON, messageName: rootName, location: "offset \(error.offset)",
                            reason: "invalid JSON: \(error.reason)")
        }
    }

    /// Moves past the string at `position`.
    private mutating func skipString() {
        position += 1
        while bytes[position] != UInt8(ascii: "\"") {
            if bytes[position] == UInt8(ascii: "\\") { position += 1 }
            position += 1
        }
        position += 1
    }

    /// Moves past the value at `position` (after whitespace).
    private mutating func skipValue() {
        skipWhitespace()
        var depth = 0
        repeat {
            switch bytes[position] {
            case UInt8(ascii: "\""):
                skipString()
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                position += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                position += 1
            case UInt8(ascii: ","), UInt8(ascii: ":"), 0x20, 0x0A, 0x0D, 0x09:
                position += 1
            default:
                // A literal or a number: up to the next delimiter.
                while position < bytes.count {
                    switch bytes[position] {
                    case UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]"), 0x20, 0x0A, 0x0D, 0x09:
                        break
                    default:
                        position += 1
                        continue
                    }
                    break
                }
            }
        } while depth > 0
    }

    // MARK: - Errors

    /// The key whose opening quote is at `start`, unescaped.
    private func key(at start: Int) -> String {
        var position = start
        if case .string(let key)? = try? JSONParser.value(in: bytes, at: &position) { return key }
        return ""
    }

    /// What the value at `position` is, as the dynamic decoder describes it.
    private func kindDescription() -> String {
        var position = self.position
        return (try? JSONParser.value(in: bytes, at: &position))?.kindDescription ?? "nothing"
    }

    /// The JSON path of the value being read, e.g. `$.microvms[3].name`.
    private func pathText() -> String {
        var text = "$"
        for component in path {
            switch component {
            case .key(let start): text += ".\(key(at: start))"
            case .index(let index): text += "[\(index)]"
            }
        }
        return text
    }

    private func fail(_ reason: String, code: WireError.Code = .malformedJSON) -> WireError {
        WireError(code: code, messageName: rootName, location: pathText(), reason: reason)
    }

    @usableFromInline
    func mismatch() -> WireError {
        WireError(code: .internalFailure, messageName: schema.fullName, location: schema.fields[fieldIndex].name,
                  reason: "the generated type does not match the field")
    }
}
