/// Why encoding or decoding a message failed.
///
/// The message names the message type and, where known, the field (binary) or the
/// JSON path (JSON); it never echoes the offending payload beyond a short excerpt.
public struct WireError: Error, Sendable, Hashable, CustomStringConvertible {
    /// An opaque, stable category of the failure.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        let rawValue: String
        public var description: String { rawValue }

        /// The input is larger than the configured limit.
        public static let tooLarge = Code(rawValue: "too_large")
        /// Messages (or JSON values) are nested deeper than the configured limit.
        public static let tooDeep = Code(rawValue: "too_deep")
        /// The binary input is not valid protobuf for the message.
        public static let malformedBinary = Code(rawValue: "malformed_binary")
        /// The JSON input is not valid JSON or does not match the message.
        public static let malformedJSON = Code(rawValue: "malformed_json")
        /// A JSON key that the message does not define (strict decoding only).
        public static let unknownField = Code(rawValue: "unknown_field")
        /// A string that is not valid UTF-8 or holds a NUL character.
        public static let invalidString = Code(rawValue: "invalid_string")
        /// A value the message cannot represent (e.g. a timestamp out of range).
        public static let invalidValue = Code(rawValue: "invalid_value")
        /// The C runtime failed (allocation or an unexpected libprotobuf-c result).
        public static let internalFailure = Code(rawValue: "internal")
    }

    /// The category of the failure.
    public let code: Code
    /// The message type involved, e.g. `nkudo.v1.Tenant`.
    public let messageName: String
    /// The field (binary) or JSON path (JSON) involved, when known.
    public let location: String?
    /// What went wrong, for a person.
    public let reason: String

    /// Creates an error.
    public init(code: Code, messageName: String, location: String? = nil, reason: String) {
        self.code = code
        self.messageName = messageName
        self.location = location
        self.reason = reason
    }

    public var description: String {
        if let location {
            return "\(messageName): \(location): \(reason)"
        }
        return "\(messageName): \(reason)"
    }
}

/// Limits applied when decoding untrusted input.
public struct WireLimits: Sendable, Hashable {
    /// Largest accepted input in bytes (default 4 MiB).
    public var maxBytes: Int
    /// Deepest accepted nesting of messages (binary) or JSON containers (default 64).
    public var maxDepth: Int

    /// Creates limits.
    public init(maxBytes: Int = 4 * 1024 * 1024, maxDepth: Int = 64) {
        self.maxBytes = maxBytes
        self.maxDepth = maxDepth
    }

    /// 4 MiB, depth 64.
    public static let `default` = WireLimits()
}

/// Options of the proto3 JSON decoder.
public struct JSONDecodingOptions: Sendable, Hashable {
    /// Whether unknown keys (and unknown enum names) are ignored instead of rejected.
    public var ignoreUnknownFields: Bool

    /// Creates options; unknown fields are rejected by default.
    public init(ignoreUnknownFields: Bool = false) {
        self.ignoreUnknownFields = ignoreUnknownFields
    }
}
