internal import COpenSSL

/// SHA-256 digests and constant-time comparison.
public enum Digest {
    /// The SHA-256 of `bytes` as lowercase hex (64 characters).
    ///
    /// Stops the process with `fatalError` if OpenSSL cannot compute SHA-256: failing means
    /// OpenSSL is unusable, and a wrong fingerprint must never be returned in its place.
    public static func sha256Hex(_ bytes: [UInt8]) -> String {
        var state = SHA256State()
        bytes.withUnsafeBytes { state.update($0) }
        return Hex.lowercase(state.finish())
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
    private var state = SHA256State()

    /// A hasher with no input yet.
    public init() {}

    /// Adds bytes to the input.
    public func update(_ bytes: some Collection<UInt8>) {
        if bytes.withContiguousStorageIfAvailable({ state.update(UnsafeRawBufferPointer($0)) }) == nil {
            Array(bytes).withUnsafeBytes { state.update($0) }
        }
    }

    /// The digest of everything added, as lowercase hex; the hasher is spent afterwards.
    public func finalizeHex() -> String {
        Hex.lowercase(state.finish())
    }
}

/// The state of OpenSSL's `SHA256_*` functions, which compute SHA-256 without EVP's provider
/// fetch (see `shim.h`: the edge agent keeps 1.8 MiB less of libcrypto resident). A failing
/// call stops the process.
struct SHA256State {
    private var context = SHA256_CTX()

    init() {
        Self.check(nkudo_SHA256_Init(&context), "start")
    }

    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        Self.check(nkudo_SHA256_Update(&context, bytes.baseAddress, bytes.count), "update")
    }

    /// The 32-byte digest; the state is spent afterwards.
    mutating func finish() -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: Int(SHA256_DIGEST_LENGTH))
        let finished = digest.withUnsafeMutableBufferPointer { nkudo_SHA256_Final($0.baseAddress, &context) }
        Self.check(finished, "finish")
        return digest
    }

    private static func check(_ result: Int32, _ step: String) {
        do {
            try OpenSSLCall.check(result == 1, .openssl, "cannot \(step) SHA-256")
        } catch {
            fatalError("\(error)")
        }
    }
}
