/// What a client sends over an RPC's HTTP binding.
public struct HTTPBindingRequest: Sendable {
    /// The path with its parameters filled in, and the query of a binding without a body.
    public let target: String
    /// The request's fields less the path parameters: the body of a binding with one.
    public let bodyFields: ProtoFields
}

/// A path parameter the request leaves empty.
public struct MissingPathParameter: Error, Sendable, CustomStringConvertible {
    /// The parameter's field name.
    public let name: String
    public var description: String { "the request has no \(name)" }
}

extension HTTPBinding {
    /// The request over this binding: each `{name}` of the path filled with the field of
    /// that name (percent-encoded); for a binding without a body, the set scalar fields as
    /// the query (`name=value&…`, percent-encoded); the other fields for the body.
    ///
    /// - Throws: ``MissingPathParameter`` when a path parameter is not set.
    public func request(_ fields: ProtoFields) throws(MissingPathParameter) -> HTTPBindingRequest {
        var fields = fields
        var segments: [String] = []
        for segment in path.split(separator: "/", omittingEmptySubsequences: false) {
            guard segment.hasPrefix("{"), segment.hasSuffix("}") else {
                segments.append(String(segment))
                continue
            }
            let name = String(segment.dropFirst().dropLast())
            guard let index = fields.schema.fieldIndex(named: name), case .string(let value)? = fields[index], !value.isEmpty else {
                throw MissingPathParameter(name: name)
            }
            segments.append(Self.percentEncoded(value))
            fields[index] = nil
        }
        var target = segments.joined(separator: "/")
        if body.isEmpty {
            let query = Self.query(fields)
            if !query.isEmpty { target += "?" + query }
        }
        return HTTPBindingRequest(target: target, bodyFields: fields)
    }

    /// `name=value&…` of the set scalar fields, percent-encoded.
    public static func query(_ fields: ProtoFields) -> String {
        var items: [String] = []
        for (index, field) in fields.schema.fields.enumerated() {
            let text: String
            switch fields[index] {
            case .string(let value)? where !value.isEmpty: text = value
            case .int32(let value)? where value != 0: text = String(value)
            case .int64(let value)? where value != 0: text = String(value)
            case .uint32(let value)? where value != 0: text = String(value)
            case .uint64(let value)? where value != 0: text = String(value)
            case .bool(true)?: text = "true"
            default: continue
            }
            items.append("\(field.name)=\(percentEncoded(text))")
        }
        return items.joined(separator: "&")
    }

    /// Everything but RFC 3986's unreserved characters (`A–Z a–z 0–9 - . _ ~`) percent-encoded.
    public static func percentEncoded(_ text: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var encoded: [UInt8] = []
        encoded.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                encoded.append(byte)
            default:
                encoded += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
            }
        }
        return String(decoding: encoded, as: UTF8.self)
    }
}
