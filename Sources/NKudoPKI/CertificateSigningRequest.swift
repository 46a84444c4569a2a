internal import COpenSSL

/// A PKCS#10 certificate signing request, held by OpenSSL.
///
/// `@unchecked Sendable`: the request is never modified after it is created, and
/// OpenSSL only reads an `X509_REQ` when encoding it or verifying its signature.
public final class CertificateSigningRequest: @unchecked Sendable {
    private let request: OpaquePointer

    /// Adopts the `X509_REQ *` `request`; it is freed with this object.
    init(takingOwnership request: OpaquePointer) {
        self.request = request
    }

    deinit {
        X509_REQ_free(request)
    }

    /// Reads the first `CERTIFICATE REQUEST` block in `pem`; anything before it is skipped.
    ///
    /// Parsing does not check the request: call `validate()` before trusting it.
    ///
    /// - Throws: `.invalidPEM` when there is no readable request.
    public convenience init(pem: String) throws(PKIError) {
        let request = try pemObject("CERTIFICATE REQUEST", from: pem) { PEM_read_bio_X509_REQ($0, nil, refusePassphrase, nil) }
        self.init(takingOwnership: request)
    }

    /// A new request for `key` with subject `CN=commonName`, signed by `key` with SHA-256
    /// (EdDSA keys sign without a separate digest).
    ///
    /// - Throws: `.policy` when `commonName` is empty, longer than 64 characters or holds
    ///   control characters.
    public static func create(key: PrivateKey, commonName: String) throws(PKIError) -> CertificateSigningRequest {
        let subject = try DistinguishedName([(NID_commonName, commonName)])
        let request = try OpenSSLCall.check(X509_REQ_new(), .openssl, "cannot allocate a certificate request")
        let csr = CertificateSigningRequest(takingOwnership: request)
        try OpenSSLCall.check(
            X509_REQ_set_version(request, Int(X509_REQ_VERSION_1)) == 1,
            .openssl,
            "cannot set the request version"
        )
        try subject.withUnsafeNamePointer { (name) throws(PKIError) in
            try OpenSSLCall.check(
                X509_REQ_set_subject_name(request, name) == 1,
                .openssl,
                "cannot set the request subject"
            )
        }
        try key.withUnsafeKeyPointer { (key) throws(PKIError) in
            try OpenSSLCall.check(X509_REQ_set_pubkey(request, key) == 1, .openssl, "cannot set the request key")
            try OpenSSLCall.check(
                X509_REQ_sign(request, key, KeyKind(key).signingDigest) > 0,
                .openssl,
                "cannot sign the request"
            )
        }
        return csr
    }

    /// The request as PEM (`-----BEGIN CERTIFICATE REQUEST-----`).
    public func pem() throws(PKIError) -> String {
        try pemText("certificate request") { PEM_write_bio_X509_REQ($0, request) }
    }

    /// Checks that the request may be turned into an agent certificate: its public key is
    /// EC P-256 or P-384, or RSA with at least 2048 bits, and its self-signature verifies
    /// with that key.
    ///
    /// - Throws: `.invalidCSR` when the request has no usable public key, `.policy` when
    ///   the key is of another kind or too small, `.signature` when the signature does not
    ///   verify.
    public func validate() throws(PKIError) {
        let key = try OpenSSLCall.check(
            X509_REQ_get0_pubkey(request),
            .invalidCSR,
            "the certificate request carries no usable public key"
        )
        if let violation = KeyKind(key).policyViolation {
            throw PKIError(code: .policy, message: "certificate request rejected: \(violation)")
        }
        try OpenSSLCall.check(
            X509_REQ_verify(request, key) == 1,
            .signature,
            "the certificate request's signature does not verify with its own public key"
        )
    }

    /// The algorithm and size of the requested public key, e.g. "EC P-256", "RSA 4096",
    /// "Ed25519"; "none" when the request has no readable key.
    public var keyDescription: String {
        guard let key = X509_REQ_get0_pubkey(request) else {
            _ = OpenSSLCall.query(false)
            return "none"
        }
        return KeyKind(key).description
    }

    /// Lends the `X509_REQ *` to `body`; it must not escape.
    func withUnsafeRequestPointer<Result, Failure: Error>(
        _ body: (OpaquePointer) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        try body(request)
    }
}
