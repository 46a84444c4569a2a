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
        let mediaType = contentType.split(separator: ";", maxSplits: 1).first.map {
            $0.trimmingASCIIWhitespace().lowercased()
        } ?? ""
        switch mediaType {
        case "application/json": self = .json
        case "application/x-protobuf", "application/protobuf", "application/proto": self = .binary
        default: return nil
        }
    }

    /// The format an `Accept` header prefers: the first listed media type we speak
    /// (`*/*` and `application/*` choose `fallback`); `fallback` when the header is
    /// absent or names nothing we speak.
    public static func preferred(accept: String?, fallback: WireFormat) -> WireFormat {
        guard let accept, !accept.isEmpty else { return fallback }
        for candidate in accept.split(separator: ",") {
            let mediaType = candidate.split(separator: ";", maxSplits: 1).first.map { $0.trimmingASCIIWhitespace().lowercased() } ?? ""
            if mediaType == "*/*" || mediaType == "application/*" { return fallback }
            if let format = WireFormat(contentType: mediaType) { return format }
        }
        return fallback
    }
}

extension Substring {
    func trimmingASCIIWhitespace() -> Substring {
        var result = self
        while let first = result.first, first == " " || first == "\t" { result.removeFirst() }
        while let last = result.last, last == " " || last == "\t" { result.removeLast() }
        return result
    }
}
