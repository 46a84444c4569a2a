internal import COpenSSL
internal import Foundation

/// Cryptographically secure random values from OpenSSL's DRBG (`RAND_bytes`).
///
/// These functions do not throw; if OpenSSL cannot produce random bytes they stop the
/// process with `fatalError`. That is deliberate: OpenSSL 3 only fails here when its
/// DRBG cannot be seeded from the operating system's entropy source, every caller uses
/// the bytes for secrets (tokens, serial numbers, identifiers), and there is no safe
/// fallback, so carrying on would silently hand out guessable secrets.
public enum SecureRandom {
    /// `count` random bytes; none when `count` is not positive.
    public static func bytes(_ count: Int) -> [UInt8] {
        guard count > 0 else {
            return []
        }
        var bytes = [UInt8](repeating: 0, count: count)
        bytes.withUnsafeMutableBufferPointer { buffer in
            var offset = 0
            while offset < buffer.count {
                let chunk = min(buffer.count - offset, Int(Int32.max))
                let filled = RAND_bytes(buffer.baseAddress! + offset, Int32(chunk)) == 1
                do {
                    try OpenSSLCall.check(filled, .openssl, "RAND_bytes cannot produce random bytes")
                } catch {
                    fatalError("\(error)")
                }
                offset += chunk
            }
        }
        return bytes
    }

    /// A bearer token: 32 random bytes as base64url without padding (43 characters of
    /// `A-Z a-z 0-9 - _`).
    public static func token() -> String {
        Data(bytes(32)).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// A random (version 4) UUID in lowercase canonical form, e.g.
    /// `"1b4e28ba-2fa1-4d2e-883f-0016d3cca427"`.
    public static func uuid() -> String {
        var octets = bytes(16)
        octets[6] = (octets[6] & 0x0F) | 0x40
        octets[8] = (octets[8] & 0x3F) | 0x80
        let hex = Hex.lowercase(octets)
        var text = ""
        for (index, character) in hex.enumerated() {
            if [8, 12, 16, 20].contains(index) {
                text.append("-")
            }
            text.append(character)
        }
        return text
    }
}
