internal import COpenSSL

/// A private key (EC, RSA or another algorithm OpenSSL supports), held by OpenSSL.
///
/// `@unchecked Sendable`: the key is never modified after `init`, and OpenSSL 3
/// allows one `EVP_PKEY` to be used for signing and encoding from several threads
/// at once (each operation works in its own `EVP_PKEY_CTX`).
public final class PrivateKey: @unchecked Sendable {
    private let key: OpaquePointer

    /// Adopts the `EVP_PKEY *` `key`; it is freed with this object.
    init(takingOwnership key: OpaquePointer) {
        self.key = key
    }

    deinit {
        EVP_PKEY_free(key)
    }

    /// Generates a new EC key on the NIST P-256 curve.
    public static func generateP256() throws(PKIError) -> PrivateKey {
        let context = try OpenSSLCall.check(
            EVP_PKEY_CTX_new_from_name(nil, "EC", nil),
            .openssl,
            "cannot create an EC key generation context"
        )
        defer { EVP_PKEY_CTX_free(context) }
        try OpenSSLCall.check(EVP_PKEY_keygen_init(context) == 1, .openssl, "cannot start EC key generation")
        try OpenSSLCall.check(
            EVP_PKEY_CTX_set_group_name(context, "P-256") == 1,
            .openssl,
            "cannot select the P-256 curve"
        )
        var key: OpaquePointer?
        try OpenSSLCall.check(EVP_PKEY_generate(context, &key) == 1, .openssl, "cannot generate a P-256 key")
        return PrivateKey(takingOwnership: try OpenSSLCall.check(key, .openssl, "cannot generate a P-256 key"))
    }

    /// Reads the first private key in `pem`: PKCS#8 (`PRIVATE KEY`), SEC1
    /// (`EC PRIVATE KEY`) or PKCS#1 (`RSA PRIVATE KEY`). Encrypted keys are refused.
    ///
    /// - Throws: `.invalidPEM` when no unencrypted private key can be read.
    public convenience init(pem: String) throws(PKIError) {
        let key = try pemObject("private key", from: pem) { PEM_read_bio_PrivateKey($0, nil, refusePassphrase, nil) }
        self.init(takingOwnership: key)
    }

    /// The key as unencrypted PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
    ///
    /// The result is secret: store it with `PEMFiles.writeSecret(_:to:)`.
    public func pkcs8PEM() throws(PKIError) -> String {
        try pemText("private key") { PEM_write_bio_PrivateKey($0, key, nil, nil, 0, nil, nil) }
    }

    /// The algorithm and size of the key, e.g. "EC P-256" or "RSA 2048".
    public var keyDescription: String {
        KeyKind(key).description
    }

    /// Lends the `EVP_PKEY *` to `body`; it must not escape.
    func withUnsafeKeyPointer<Result, Failure: Error>(
        _ body: (OpaquePointer) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        try body(key)
    }
}
