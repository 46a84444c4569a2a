import Foundation

/// Why a NetBird operation (setup-key loading, status, join, probe) failed. The text
/// never contains the setup key.
public struct NetBirdError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What happened.
    public let message: String

    /// Creates an error.
    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}

/// A NetBird setup key: a secret that is never printed, logged or persisted by the
/// agent. `description` is redacted.
public struct NetBirdSetupKey: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible {
    /// Environment variable the key is read from.
    public static let environmentVariable = "NKUDO_NETBIRD_SETUP_KEY"

    /// The secret itself.
    let value: String

    /// A key from its text (trimmed); `nil` when blank.
    public init?(_ text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else {
            return nil
        }
        value = trimmed
    }

    /// Loads the key from `NKUDO_NETBIRD_SETUP_KEY` when set and non-blank, else from
    /// `file` (trimmed) when given; `nil` when neither yields a key.
    ///
    /// - Throws: ``NetBirdError`` when `file` is given but cannot be read.
    public static func load(environment: [String: String], file: String?) throws -> NetBirdSetupKey? {
        if let key = environment[environmentVariable].flatMap(NetBirdSetupKey.init) {
            return key
        }
        guard let file, !file.isEmpty else {
            return nil
        }
        guard let data = FileManager.default.contents(atPath: file) else {
            throw NetBirdError("cannot read setup key file \(file)")
        }
        return NetBirdSetupKey(String(decoding: data, as: UTF8.self))
    }

    public var description: String { "NetBirdSetupKey(<redacted>)" }
    public var debugDescription: String { description }

    /// `text` with every occurrence of the key replaced, for logging command output.
    func redacting(_ text: String) -> String {
        text.replacingOccurrences(of: value, with: "<redacted>")
    }
}
