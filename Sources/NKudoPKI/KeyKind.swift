internal import COpenSSL

/// The algorithm and size of a key, as far as this PKI's policy cares.
enum KeyKind: Equatable {
    case ec(curve: String?)
    case rsa(bits: Int)
    case rsaPSS(bits: Int)
    case ed25519
    case ed448
    case other(String)

    /// Classifies the `EVP_PKEY *` `key` (private or public).
    init(_ key: OpaquePointer) {
        if EVP_PKEY_is_a(key, "EC") == 1 {
            self = .ec(curve: KeyKind.curveName(key))
        } else if EVP_PKEY_is_a(key, "RSA") == 1 {
            self = .rsa(bits: Int(EVP_PKEY_get_bits(key)))
        } else if EVP_PKEY_is_a(key, "RSA-PSS") == 1 {
            self = .rsaPSS(bits: Int(EVP_PKEY_get_bits(key)))
        } else if EVP_PKEY_is_a(key, "ED25519") == 1 {
            self = .ed25519
        } else if EVP_PKEY_is_a(key, "ED448") == 1 {
            self = .ed448
        } else {
            self = .other(EVP_PKEY_get0_type_name(key).map { String(cString: $0) } ?? "unknown")
        }
    }

    /// For people: "EC P-256", "RSA 4096", "Ed25519", ...
    var description: String {
        switch self {
        case .ec(let curve?): "EC \(curve)"
        case .ec(nil): "EC (unnamed curve)"
        case .rsa(let bits): "RSA \(bits)"
        case .rsaPSS(let bits): "RSA-PSS \(bits)"
        case .ed25519: "Ed25519"
        case .ed448: "Ed448"
        case .other(let name): name
        }
    }

    /// Why an agent may not use a key of this kind, or nil when the policy allows it:
    /// EC P-256 or P-384, or RSA with at least 2048 bits.
    var policyViolation: String? {
        switch self {
        case .ec(curve: "P-256"), .ec(curve: "P-384"):
            nil
        case .rsa(let bits) where bits >= 2048:
            nil
        case .rsa:
            "\(description) is too small: RSA keys must have at least 2048 bits"
        default:
            "\(description) keys are not accepted: use EC P-256, EC P-384 or RSA with at least 2048 bits"
        }
    }

    var isRSA: Bool {
        switch self {
        case .rsa, .rsaPSS: true
        default: false
        }
    }

    /// The digest to sign with: SHA-256, or none (`nil`) for EdDSA, which hashes internally.
    var signingDigest: OpaquePointer? {
        switch self {
        case .ed25519, .ed448: nil
        default: EVP_sha256()
        }
    }

    /// The NIST name of a key's named curve (P-256, P-384, P-521) or OpenSSL's name of another.
    private static func curveName(_ key: OpaquePointer) -> String? {
        var buffer = [CChar](repeating: 0, count: 80)
        var length = 0
        let found = buffer.withUnsafeMutableBufferPointer {
            EVP_PKEY_get_group_name(key, $0.baseAddress, $0.count, &length) == 1
        }
        guard OpenSSLCall.query(found) else {
            return nil
        }
        let name = String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        switch name {
        case "prime256v1", "P-256": return "P-256"
        case "secp384r1", "P-384": return "P-384"
        case "secp521r1", "P-521": return "P-521"
        default: return name
        }
    }
}
