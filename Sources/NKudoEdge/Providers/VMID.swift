/// A validated microVM id: 1–64 characters from `[A-Za-z0-9._-]`, not `.` or `..`.
/// Such an id is always exactly one path segment, so the VM's directory
/// `<runtime dir>/<id>` can never be the runtime directory itself or lie outside it.
public struct VMID: Sendable, Hashable, Comparable, CustomStringConvertible, Codable {
    /// The id's text.
    public let rawValue: String

    /// The longest accepted id, in characters.
    public static let maximumLength = 64

    /// Validates `rawValue`; throws ``ProviderError/Code/invalidArgument`` for an empty,
    /// too long or unsafe id.
    public init(_ rawValue: String) throws(ProviderError) {
        guard !rawValue.isEmpty else {
            throw ProviderError(.invalidArgument, "vm id required")
        }
        guard rawValue.utf8.count <= Self.maximumLength else {
            throw ProviderError(.invalidArgument, "vm id longer than \(Self.maximumLength) characters")
        }
        guard rawValue != ".", rawValue != ".." else {
            throw ProviderError(.invalidArgument, "vm id must not be \"\(rawValue)\"")
        }
        guard rawValue.utf8.allSatisfy(Self.isSafe) else {
            throw ProviderError(.invalidArgument, "vm id may contain only A-Z, a-z, 0-9, '.', '_' and '-'")
        }
        self.rawValue = rawValue
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        try self.init(text)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    public var description: String { rawValue }

    public static func < (lhs: VMID, rhs: VMID) -> Bool {
        Array(lhs.rawValue.utf8).lexicographicallyPrecedes(rhs.rawValue.utf8)
    }

    static func isSafe(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
            true
        default:
            false
        }
    }
}
