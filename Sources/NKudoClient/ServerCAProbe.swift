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

    /// Host and port of an `https://` URL (``ControlPlaneURL``'s rules).
    public static func hostAndPort(_ url: String) throws(ClientError) -> (host: String, port: Int) {
        do {
            return try ControlPlaneURL.hostAndPort(url)
        } catch {
            throw ClientError(.usage, "the control plane URL \(url) \(error)")
        }
    }
}
