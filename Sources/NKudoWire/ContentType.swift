/// The two encodings every route speaks, and how HTTP media types map to them.
public enum WireFormat: Sendable, Hashable {
    /// Canonical proto3 JSON.
    case json
    /// Binary protobuf.
    case binary

    /// The media type responses in this format carry.
    public var contentType: String {
        switch self {
        case .json: return "application/json"
        case .binary: return "application/x-protobuf"
        }
    }

    /// The media type of the Connect unary protocol for this format.
    public var connectContentType: String {
        switch self {
        case .json: return "application/json"
        case .binary: return "application/proto"
        }
    }

    /// The format a `Content-Type` header names, or nil when it is none of
    /// `application/json`, `application/x-protobuf`, `application/protobuf`,
    /// `application/proto` (parameters such as `charset=utf-8` are ignored).
    public init?(contentType: String) {
        guard case .format(let format) = MediaRange(contentType.utf8[...]) else { return nil }
        self = format
    }

    /// The format an `Accept` header prefers: the first listed media type we speak
    /// (`*/*` and `application/*` choose `fallback`); `fallback` when the header is
    /// absent or names nothing we speak.
    ///
    /// Both read the header's bytes in place: they run on every request, and splitting,
    /// trimming and lowercasing `String`s (grapheme by grapheme) was ~1 % of the control
    /// plane's CPU per heartbeat (README, Performance).
    public static func preferred(accept: String?, fallback: WireFormat) -> WireFormat {
        guard let accept else { return fallback }
        var rest = accept.utf8[...]
        while !rest.isEmpty {
            let comma = rest.firstIndex(of: UInt8(ascii: ",")) ?? rest.endIndex
            switch MediaRange(rest[..<comma]) {
            case .any: return fallback
            case .format(let format): return format
            case .other: break
            }
            rest = comma == rest.endIndex ? rest[comma...] : rest[rest.index(after: comma)...]
        }
        return fallback
    }
}

/// What one media range of a `Content-Type` or `Accept` header names, its parameters
/// ignored, compared ASCII case-insensitively.
private enum MediaRange {
    case format(WireFormat)
    /// `*/*` or `application/*`.
    case any
    case other

    private static let names: [(name: [UInt8], range: MediaRange)] = [
        (Array("application/json".utf8), .format(.json)),
        (Array("application/x-protobuf".utf8), .format(.binary)),
        (Array("application/protobuf".utf8), .format(.binary)),
        (Array("application/proto".utf8), .format(.binary)),
        (Array("*/*".utf8), .any),
        (Array("application/*".utf8), .any),
    ]

    init(_ text: Substring.UTF8View) {
        let type = text.mediaType
        self = Self.names.first { type.equals(caseInsensitive: $0.name) }?.range ?? .other
    }
}

extension Substring.UTF8View {
    /// The media type of a `Content-Type` header or of one member of an `Accept` list: the
    /// bytes before the first `;`, spaces and tabs trimmed.
    package var mediaType: Substring.UTF8View {
        var type = self[..<(firstIndex(of: UInt8(ascii: ";")) ?? endIndex)]
        while let first = type.first, first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") { type.removeFirst() }
        while let last = type.last, last == UInt8(ascii: " ") || last == UInt8(ascii: "\t") { type.removeLast() }
        return type
    }

    /// Whether the bytes start with `prefix` (lower-case ASCII), ASCII letters compared
    /// case-insensitively.
    package func hasPrefix(caseInsensitive prefix: [UInt8]) -> Bool {
        count >= prefix.count && zip(prefix, self).allSatisfy { expected, byte in
            expected == (UInt8(ascii: "A")...UInt8(ascii: "Z") ~= byte ? byte | 0x20 : byte)
        }
    }

    /// Whether the bytes are `other` (lower-case ASCII), ASCII letters compared
    /// case-insensitively.
    package func equals(caseInsensitive other: [UInt8]) -> Bool {
        count == other.count && hasPrefix(caseInsensitive: other)
    }
}
