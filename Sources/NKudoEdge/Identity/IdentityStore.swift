import Foundation
import NKudoPKI

/// Keeps the agent identity in `<pki-dir>/agent-identity.json` (0600), written in one
/// atomic replace, so a failure at any step leaves the previous identity intact. The
/// original's `client.key` (0600), `client.crt` and `ca.crt` are written next to it, from
/// the same identity, for operators and tools.
public struct IdentityStore: Sendable {
    /// The PKI directory (created 0700).
    public let directory: String

    /// Creates a store for a PKI directory.
    public init(directory: String) {
        self.directory = directory
    }

    var bundlePath: String { (directory as NSString).appendingPathComponent("agent-identity.json") }

    /// The saved identity, or nil when this host is not enrolled.
    public func load() throws -> AgentIdentity? {
        guard FileManager.default.fileExists(atPath: bundlePath) else { return nil }
        let text = try PEMFiles.read(bundlePath)
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = UTCTimestamp.decodingStrategy
        do {
            return try decoder.decode(AgentIdentity.self, from: Data(text.utf8))
        } catch {
            throw IdentityError(description: "\(bundlePath) is not a valid agent identity (\(Self.reason(error))); "
                                + "enroll again with nkudo-edge enroll --force")
        }
    }

    /// What is wrong with the file, in a few words instead of Swift's debug description.
    private static func reason(_ error: any Error) -> String {
        func field(_ path: [any CodingKey]) -> String { path.map(\.stringValue).joined(separator: ".") }
        switch error as? DecodingError {
        case .keyNotFound(let key, let context)?:
            return "\(field(context.codingPath + [key])) is missing"
        case .typeMismatch(_, let context)?, .valueNotFound(_, let context)?:
            return "\(field(context.codingPath)) has the wrong type"
        case .dataCorrupted(let context)?:
            return context.codingPath.isEmpty ? "not JSON" : "\(field(context.codingPath)) is malformed"
        default:
            return "\(error)"
        }
    }

    /// Fails when an identity could not be saved here (the directory cannot be created or
    /// written): enrolling checks it first, since the enrollment spends a one-time token
    /// and registers the host before there is an identity to save.
    public func checkWritable() throws {
        let probe = (directory as NSString).appendingPathComponent(".agent-identity.check")
        try PEMFiles.writeSecret("", to: probe)
        try? FileManager.default.removeItem(atPath: probe)
    }

    /// Replaces the identity atomically, then refreshes the derived PEM files.
    public func save(_ identity: AgentIdentity) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = UTCTimestamp.encodingStrategy
        let json = String(decoding: try encoder.encode(identity), as: UTF8.self)
        try PEMFiles.writeSecret(json + "\n", to: bundlePath)
        try PEMFiles.writeSecret(identity.privateKeyPEM, to: (directory as NSString).appendingPathComponent("client.key"))
        try PEMFiles.write(identity.certificatePEM, to: (directory as NSString).appendingPathComponent("client.crt"))
        try PEMFiles.write(identity.caCertificatePEM, to: (directory as NSString).appendingPathComponent("ca.crt"))
    }
}

/// The identity cannot be read or used.
public struct IdentityError: Error, Sendable, CustomStringConvertible {
    public let description: String
}
