/// How a plan names an image (a disk, a kernel): never by path, only by the file name of
/// an image in the agent's image directories or by the SHA-256 of its content.
public enum ImageReference: Sendable, Hashable, CustomStringConvertible {
    /// `name`: a file directly inside one of the image directories.
    case name(String)
    /// `sha256:<64 lower-case hex digits>`: an image with that content, in the cache or
    /// an image directory.
    case digest(String)

    /// The longest accepted name, in bytes (the usual file-name limit).
    public static let maximumNameLength = 255

    /// Parses a plan's reference; `field` names it in errors.
    ///
    /// - Throws: ``ProviderError/Code/invalidArgument`` for a path (`/`), a hidden or
    ///   relative name (`.`, `..`, a leading `.`), characters outside
    ///   `A-Z a-z 0-9 . _ + -`, or a malformed digest.
    public init(_ text: String, field: String) throws(ProviderError) {
        if text.hasPrefix("sha256:") {
            let hex = text.dropFirst("sha256:".count)
            guard hex.utf8.count == 64, hex.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0) }) else {
                throw ProviderError(.invalidArgument, "\(field) \"\(text.prefix(80))\" is not sha256: and 64 lower-case hex digits")
            }
            self = .digest(String(hex))
            return
        }
        guard !text.contains("/") else {
            throw ProviderError(.invalidArgument,
                                "\(field) \"\(text.prefix(80))\" is a path; name an image of this host's image directories (its file name, or sha256:<digest>)")
        }
        guard !text.isEmpty, text.utf8.count <= Self.maximumNameLength, !text.hasPrefix("."),
              text.utf8.allSatisfy({ VMID.isSafe($0) || $0 == UInt8(ascii: "+") }) else {
            throw ProviderError(.invalidArgument,
                                "\(field) \"\(text.prefix(80))\" is not an image name: 1-\(Self.maximumNameLength) of A-Z, a-z, 0-9, '.', '_', '+', '-', not starting with '.'")
        }
        self = .name(text)
    }

    public var description: String {
        switch self {
        case .name(let name): name
        case .digest(let hex): "sha256:\(hex)"
        }
    }
}
