import Foundation
import NKudoPKI

#if canImport(Glibc)
import Glibc
#endif

/// The CLI's configuration file (`~/.config/nkudo/config.toml`): named contexts, like
/// kubeconfig's, each a control plane URL with its pinned CA and credentials, and the
/// current context.
///
/// ```toml
/// current-context = "prod"
///
/// [contexts.prod]
/// url = "https://cp.example.com:8443"
/// ca-fingerprint = "3f5c…"
/// ca-file = "ca/3f5c….pem"
/// tenant-id = "…"
/// api-key = "nk_…"
/// ```
///
/// The file is written with mode 0600 in a 0700 directory; a file with keys that group
/// or others may read is refused.
public struct ConfigFile: Sendable, Equatable {
    /// One named connection.
    public struct Context: Sendable, Equatable {
        /// The context's name.
        public var name: String
        /// Control plane base URL.
        public var url: String?
        /// Tenant of the tenant routes (`/tenants/{tenant_id}/…`).
        public var tenantID: String?
        /// Tenant API key.
        public var apiKey: String?
        /// Operator key.
        public var adminKey: String?
        /// SHA-256 fingerprint of the pinned CA (64 hex digits).
        public var caFingerprint: String?
        /// The pinned CA's PEM file; relative paths are relative to the config file's directory.
        public var caFile: String?

        /// Creates an empty context.
        public init(name: String) { self.name = name }
    }

    /// Where the file lives.
    public let path: String
    /// The context commands use when `--context` and `NKUDO_CONTEXT` are not given.
    public var currentContext: String?
    /// The contexts in file order.
    public var contexts: [Context] = []

    /// An empty configuration to be written at `path`.
    public init(path: String) { self.path = path }

    /// `--config`, else `NKUDO_CONFIG`, else `$XDG_CONFIG_HOME/nkudo/config.toml`, else
    /// `~/.config/nkudo/config.toml`.
    public static func defaultPath(flag: String?, environment: [String: String]) -> String {
        if let flag, !flag.isEmpty { return flag }
        if let path = environment["NKUDO_CONFIG"], !path.isEmpty { return path }
        if let xdg = environment["XDG_CONFIG_HOME"], xdg.hasPrefix("/") { return xdg + "/nkudo/config.toml" }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return home + "/.config/nkudo/config.toml"
    }

    /// The directory of the file.
    public var directory: String { (path as NSString).deletingLastPathComponent }

    /// The context named `name`.
    public func context(named name: String) -> Context? { contexts.first { $0.name == name } }

    /// Replaces the context of the same name, or appends it.
    public mutating func set(_ context: Context) {
        if let index = contexts.firstIndex(where: { $0.name == context.name }) {
            contexts[index] = context
        } else {
            contexts.append(context)
        }
    }

    /// Reads the file; a missing file is an empty configuration.
    ///
    /// - Throws: ``ClientError`` `.usage` with the line of a syntax error, an unknown key,
    ///   or a file with keys that group or others can read.
    public static func load(path: String) throws(ClientError) -> ConfigFile {
        var config = ConfigFile(path: path)
        guard FileManager.default.fileExists(atPath: path) else { return config }
        let text: String
        do {
            text = try PEMFiles.read(path)
        } catch {
            throw ClientError(.usage, "cannot read the config file: \(error)")
        }
        let entries: [TOMLSubset.Entry]
        do {
            entries = try TOMLSubset.parse(text)
        } catch {
            throw ClientError(.usage, "\(path):\(error.line): \(error.reason)")
        }
        for entry in entries {
            switch entry.table.count {
            case 0:
                guard entry.key == "current-context" else {
                    throw ClientError(.usage, "\(path):\(entry.line): unknown setting \(entry.key) (expected current-context or [contexts.NAME])")
                }
                config.currentContext = entry.value
            case 2 where entry.table[0] == "contexts":
                var context = config.context(named: entry.table[1]) ?? Context(name: entry.table[1])
                switch entry.key {
                case "url": context.url = entry.value
                case "tenant-id": context.tenantID = entry.value
                case "api-key": context.apiKey = entry.value
                case "admin-key": context.adminKey = entry.value
                case "ca-fingerprint": context.caFingerprint = entry.value
                case "ca-file": context.caFile = entry.value
                default:
                    throw ClientError(.usage, "\(path):\(entry.line): unknown context setting \(entry.key) "
                                      + "(url, tenant-id, api-key, admin-key, ca-fingerprint, ca-file)")
                }
                config.set(context)
            default:
                throw ClientError(.usage, "\(path):\(entry.line): unknown table [\(entry.table.joined(separator: "."))] (expected [contexts.NAME])")
            }
        }
        if config.contexts.contains(where: { $0.apiKey != nil || $0.adminKey != nil }) {
            var status = stat()
            if stat(path, &status) == 0, status.st_mode & 0o077 != 0 {
                throw ClientError(.usage, "\(path) holds keys but group or others can read it (mode \(String(status.st_mode & 0o777, radix: 8))): "
                                  + "run chmod 600 \(path)")
            }
        }
        return config
    }

    /// The file's text.
    public var text: String {
        var lines = ["# nkudo CLI configuration (written by nkudo; keep it 0600)."]
        if let currentContext { lines.append("current-context = \(TOMLSubset.quoted(currentContext))") }
        for context in contexts {
            lines.append("")
            lines.append("[contexts.\(TOMLSubset.key(context.name))]")
            let settings: [(String, String?)] = [
                ("url", context.url), ("ca-fingerprint", context.caFingerprint), ("ca-file", context.caFile),
                ("tenant-id", context.tenantID), ("api-key", context.apiKey), ("admin-key", context.adminKey),
            ]
            for case let (key, value?) in settings { lines.append("\(key) = \(TOMLSubset.quoted(value))") }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Writes the file atomically with mode 0600 (missing directories 0700).
    public func save() throws(ClientError) {
        do {
            try PEMFiles.writeSecret(text, to: path)
        } catch {
            throw ClientError(.usage, "cannot write the config file: \(error)")
        }
    }

    /// Stores a pinned CA next to the file (`ca/<fingerprint>.pem`) and returns the path
    /// to record in a context.
    public func storeCA(pem: String, fingerprint: String) throws(ClientError) -> String {
        let relative = "ca/\(fingerprint).pem"
        do {
            try PEMFiles.write(pem, to: directory + "/" + relative)
        } catch {
            throw ClientError(.usage, "cannot store the pinned CA: \(error)")
        }
        return relative
    }

    /// The PEM of a context's pinned CA, checked against its recorded fingerprint.
    public func caPEM(of context: Context) throws(ClientError) -> String? {
        guard let file = context.caFile else { return nil }
        let full = file.hasPrefix("/") ? file : directory + "/" + file
        let pem: String
        do {
            pem = try PEMFiles.read(full)
        } catch {
            throw ClientError(.usage, "context \(context.name): cannot read its pinned CA: \(error)")
        }
        if let expected = context.caFingerprint {
            let actual = try ServerCAProbe.fingerprint(ofPEM: pem)
            guard actual == expected else {
                throw ClientError(.usage, "context \(context.name): \(full) is not the pinned CA (sha256:\(actual), pinned sha256:\(expected)); "
                                  + "run nkudo login again")
            }
        }
        return pem
    }
}
