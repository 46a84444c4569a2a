internal import COpenSSL

/// SHA-256 digests and constant-time comparison.
public enum Digest {
    /// The SHA-256 of `bytes` as lowercase hex (64 characters).
    ///
    /// Stops the process with `fatalError` if OpenSSL cannot compute SHA-256: the digest
    /// is built into OpenSSL's default provider, so failing means OpenSSL is unusable
    /// (out of memory or a broken installation), and a wrong fingerprint must never be
    /// returned in its place.
    public static func sha256Hex(_ bytes: [UInt8]) -> String {
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        let computed = bytes.withUnsafeBytes { input in
            EVP_Digest(input.baseAddress, input.count, &digest, &length, EVP_sha256(), nil) == 1
        }
        do {
            try OpenSSLCall.check(computed, .openssl, "cannot compute SHA-256")
        } catch {
            fatalError("\(error)")
        }
        return Hex.lowercase(digest.prefix(Int(length)))
    }

    /// The SHA-256 of the UTF-8 bytes of `text` as lowercase hex (64 characters).
    public static func sha256Hex(_ text: String) -> String {
        sha256Hex(Array(text.utf8))
    }

    /// Whether `a` and `b` hold the same bytes, in time that depends only on their length
    /// (`CRYPTO_memcmp`): the comparison never stops at the first difference. Arrays of
    /// different lengths are unequal; lengths are not treated as secret.
    public static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else {
            return false
        }
        if a.isEmpty {
            return true
        }
        return a.withUnsafeBytes { a in
            b.withUnsafeBytes { b in
                CRYPTO_memcmp(a.baseAddress, b.baseAddress, a.count) == 0
            }
        }
    }
}

/// Lowercase hexadecimal text of bytes.
enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    static func lowercase(_ bytes: some Sequence<UInt8>) -> String {
        var text: [UInt8] = []
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}

/// Incremental SHA-256 through OpenSSL, for data read in chunks (large files).
///
/// Like ``Digest/sha256Hex(_:)-(bytes)`` it stops the process if OpenSSL cannot compute
/// SHA-256 at all: a wrong digest must never be returned.
public final class SHA256Hasher {
    private let context: OpaquePointer

    /// A hasher with no input yet.
    public init() {
        guard let context = EVP_MD_CTX_new() else { fatalError("cannot allocate an OpenSSL digest context") }
        self.context = context
        do {
            try OpenSSLCall.check(EVP_DigestInit_ex(context, EVP_sha256(), nil) == 1, .openssl, "cannot start SHA-256")
        } catch {
            fatalError("\(error)")
        }
    }

    deinit {
        EVP_MD_CTX_free(context)
    }

    /// Adds bytes to the input.
    public func update(_ bytes: some Collection<UInt8>) {
        let updated = bytes.withContiguousStorageIfAvailable { buffer in
            EVP_DigestUpdate(context, buffer.baseAddress, buffer.count) == 1
        } ?? Array(bytes).withUnsafeBytes { buffer in
            EVP_DigestUpdate(context, buffer.baseAddress, buffer.count) == 1
        }
        do {
            try OpenSSLCall.check(updated, .openssl, "cannot update SHA-256")
        } catch {
            fatalError("\(error)")
        }
    }

    /// The digest of everything added, as lowercase hex; the hasher is spent afterwards.
    public func finalizeHex() -> String {
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        do {
            try OpenSSLCall.check(EVP_DigestFinal_ex(context, &digest, &length) == 1, .openssl, "cannot finish SHA-256")
        } catch {
            fatalError("\(error)")
        }
        return Hex.lowercase(digest.prefix(Int(length)))
    }
}
