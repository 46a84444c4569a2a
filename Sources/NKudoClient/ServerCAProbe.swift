import Foundation
import NKudoPKI
import NKudoTrust

/// The CLI's side of trust on first use (``PinnedCAProbe``): fingerprints and URLs checked
/// as command-line input, the pinned CA found in the server's chain with errors in the
/// CLI's words. `nkudo login` stores that CA; later calls verify the server against it.
public enum ServerCAProbe {
    /// The PEM of the pinned CA of the server at `url`.
    ///
    /// - Throws: ``ClientError`` `.connection` when the server cannot be reached or has no
    ///   such CA, `.usage` when the URL or the fingerprint are malformed.
    public static func pinnedCA(url: String, fingerprint: String) async throws(ClientError) -> String {
        let wanted = try normalizedFingerprint(fingerprint)
        let (host, port) = try hostAndPort(url)
        do {
            return try await PinnedCAProbe.certificateAuthority(host: host, port: port, fingerprint: wanted)
        } catch let mismatch as PinnedCAProbe.Mismatch {
            throw ClientError(.connection, "\(url) is not the server you pinned: \(mismatch)")
        } catch let failure as PinnedCAProbe.HandshakeFailure {
            throw ClientError(.connection, failure.description)
        } catch {
            throw ConnectionFailure.describe(error, url: url, pinnedFingerprint: nil)
        }
    }

    /// `sha256:AB:CD…` or `abcd…` → 64 lower-case hex digits.
    ///
    /// - Throws: ``ClientError`` `.usage` when it is not a SHA-256 fingerprint.
    public static func normalizedFingerprint(_ fingerprint: String) throws(ClientError) -> String {
        guard let normalized = PinnedCAProbe.normalizedFingerprint(fingerprint) else {
            throw ClientError(.usage, "--ca-fingerprint must be a SHA-256 fingerprint: 64 hex digits, optionally `sha256:` and colons")
        }
        return normalized
    }

    /// The SHA-256 fingerprint of the first certificate in `pem`.
    public static func fingerprint(ofPEM pem: String) throws(ClientError) -> String {
        do {
            return try Certificate(pem: pem).sha256Fingerprint
        } catch {
            throw ClientError(.usage, "not a PEM certificate: \(error)")
        }
    }

    /// Host and port of an `https://` URL.
    public static func hostAndPort(_ url: String) throws(ClientError) -> (host: String, port: Int) {
        guard let components = URLComponents(string: url), components.scheme?.lowercased() == "https",
              let host = components.host, !host.isEmpty else {
            throw ClientError(.usage, "the control plane URL must be https://host[:port], not \(url)")
        }
        // A port past 65535 used to wrap around to another one (99999 reached 34463).
        if let port = components.port, !(1...65_535).contains(port) {
            throw ClientError(.usage, "the control plane URL's port must be 1 to 65535, not \(port)")
        }
        guard components.query == nil, components.fragment == nil, components.user == nil, components.password == nil else {
            throw ClientError(.usage, "the control plane URL takes https://host[:port][/path], without a query, fragment or credentials: \(url)")
        }
        return (host, components.port ?? 443)
    }
}
