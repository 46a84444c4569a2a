public import Foundation
internal import COpenSSL

/// The certificate authority of an n-kudo installation: its certificate and key, and
/// the certificates it issues to agents and to the control plane's TLS endpoint.
public struct CertificateAuthority: Sendable {
    /// The CA certificate.
    public let certificate: Certificate
    /// The CA's private key.
    public let key: PrivateKey

    /// Loads a CA, checking that `key` belongs to `certificate`, that the certificate's
    /// basic constraints say `CA:TRUE`, and that it is valid at `now`.
    ///
    /// - Throws: `.mismatch`, `.notCA` or `.notValidNow`, checked in this order.
    public init(certificate: Certificate, key: PrivateKey, now: Date) throws(PKIError) {
        try certificate.verifyMatches(key)
        guard certificate.isCA else {
            throw PKIError(code: .notCA, message: "the certificate is not a CA certificate (basic constraints lack CA:TRUE)")
        }
        guard certificate.isValid(at: now) else {
            throw PKIError(
                code: .notValidNow,
                message: "the CA certificate is valid from \(certificate.notBefore) to \(certificate.notAfter), not at \(now)"
            )
        }
        self.certificate = certificate
        self.key = key
    }

    private init(issuedCertificate certificate: Certificate, key: PrivateKey) {
        self.certificate = certificate
        self.key = key
    }

    /// A new self-signed CA with a new EC P-256 key.
    ///
    /// Subject and issuer `O=n-kudo, CN=commonName`; random 128-bit serial number; valid
    /// from `now` minus 5 minutes to `now + validity`; basic constraints critical
    /// `CA:TRUE, pathlen:0`; key usage critical keyCertSign and cRLSign; subject key
    /// identifier; signed with ECDSA SHA-256.
    ///
    /// - Throws: `.policy` when `commonName` is not 1 to 64 characters or `validity` is
    ///   not positive.
    public static func generate(commonName: String, validity: TimeInterval, now: Date) throws(PKIError) -> CertificateAuthority {
        try requirePositive(validity)
        let subject = try DistinguishedName([(NID_organizationName, "n-kudo"), (NID_commonName, commonName)])
        let key = try PrivateKey.generateP256()
        let builder = try CertificateBuilder()
        try builder.setSubject(subject, selfIssued: true)
        try builder.setValidity(notBefore: now.addingTimeInterval(-300), notAfter: now.addingTimeInterval(validity))
        try key.withUnsafeKeyPointer { (key) throws(PKIError) in try builder.setPublicKey(key) }
        try builder.addExtension(NID_basic_constraints, "critical,CA:TRUE,pathlen:0")
        try builder.addExtension(NID_key_usage, "critical,keyCertSign,cRLSign")
        try builder.addExtension(NID_subject_key_identifier, "hash")
        return CertificateAuthority(issuedCertificate: try builder.sign(with: key), key: key)
    }

    /// A client certificate for an agent, for the public key of `csr`.
    ///
    /// The request is validated first (`CertificateSigningRequest.validate()`); its subject
    /// and requested extensions are ignored. Subject `O=n-kudo-agent, CN=commonName`;
    /// issuer the CA's subject; random positive 128-bit serial number; valid from `now`
    /// minus 60 seconds to `now + validity`; basic constraints critical `CA:FALSE`; key
    /// usage critical digitalSignature (plus keyEncipherment for RSA keys); extended key
    /// usage clientAuth only; authority key identifier the CA's subject key identifier;
    /// no subject alternative names; signed with SHA-256.
    ///
    /// - Throws: what `validate()` throws; `.policy` when `commonName` is not 1 to 64
    ///   characters or `validity` is not positive.
    public func issueClientCertificate(
        for csr: CertificateSigningRequest,
        commonName: String,
        validity: TimeInterval,
        now: Date
    ) throws(PKIError) -> Certificate {
        try csr.validate()
        try Self.requirePositive(validity)
        let subject = try DistinguishedName([(NID_organizationName, "n-kudo-agent"), (NID_commonName, commonName)])
        let builder = try CertificateBuilder()
        try builder.setSubject(subject, selfIssued: false)
        try builder.setIssuer(certificate)
        try builder.setValidity(notBefore: now.addingTimeInterval(-60), notAfter: now.addingTimeInterval(validity))
        let isRSA = try csr.withUnsafeRequestPointer { (request) throws(PKIError) in
            let key = try OpenSSLCall.check(
                X509_REQ_get0_pubkey(request),
                .invalidCSR,
                "the certificate request carries no usable public key"
            )
            try builder.setPublicKey(key)
            return KeyKind(key).isRSA
        }
        try builder.addExtension(NID_basic_constraints, "critical,CA:FALSE")
        try builder.addExtension(NID_key_usage, Self.endEntityKeyUsage(isRSA: isRSA))
        try builder.addExtension(NID_ext_key_usage, "clientAuth")
        try builder.addExtension(NID_authority_key_identifier, "keyid:always", issuer: certificate)
        return try builder.sign(with: self.key)
    }

    /// A TLS server certificate for `key`.
    ///
    /// Subject `CN=commonName`; subject alternative names `dnsNames` (DNS) and
    /// `ipAddresses` (IPv4 or IPv6 literals, as IP addresses); issuer the CA's subject;
    /// random positive 128-bit serial number; valid from `now` minus 5 minutes to
    /// `now + validity`; basic constraints critical `CA:FALSE`; key usage critical
    /// digitalSignature (plus keyEncipherment for RSA keys); extended key usage serverAuth;
    /// authority key identifier the CA's subject key identifier; signed with SHA-256.
    ///
    /// - Throws: `.policy` when `commonName` is not 1 to 64 characters, a DNS name or IP
    ///   address is malformed, or `validity` is not positive.
    public func issueServerCertificate(
        key: PrivateKey,
        commonName: String,
        dnsNames: [String],
        ipAddresses: [String],
        validity: TimeInterval,
        now: Date
    ) throws(PKIError) -> Certificate {
        try Self.requirePositive(validity)
        let subject = try DistinguishedName([(NID_commonName, commonName)])
        let builder = try CertificateBuilder()
        try builder.setSubject(subject, selfIssued: false)
        try builder.setIssuer(certificate)
        try builder.setValidity(notBefore: now.addingTimeInterval(-300), notAfter: now.addingTimeInterval(validity))
        let isRSA = try key.withUnsafeKeyPointer { (key) throws(PKIError) in
            try builder.setPublicKey(key)
            return KeyKind(key).isRSA
        }
        try builder.addExtension(NID_basic_constraints, "critical,CA:FALSE")
        try builder.addExtension(NID_key_usage, Self.endEntityKeyUsage(isRSA: isRSA))
        try builder.addExtension(NID_ext_key_usage, "serverAuth")
        try builder.addExtension(NID_authority_key_identifier, "keyid:always", issuer: certificate)
        try builder.addSubjectAlternativeNames(dnsNames: dnsNames, ipAddresses: ipAddresses)
        return try builder.sign(with: self.key)
    }

    private static func endEntityKeyUsage(isRSA: Bool) -> String {
        isRSA ? "critical,digitalSignature,keyEncipherment" : "critical,digitalSignature"
    }

    private static func requirePositive(_ validity: TimeInterval) throws(PKIError) {
        guard validity > 0, validity.isFinite else {
            throw PKIError(code: .policy, message: "the validity period must be a positive number of seconds, not \(validity)")
        }
    }
}
