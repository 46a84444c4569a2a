internal import COpenSSL
internal import Foundation

#if canImport(Glibc)
internal import Glibc
#elseif canImport(Darwin)
internal import Darwin
#endif

/// An X.509 v3 certificate being put together and signed by `CertificateAuthority`.
final class CertificateBuilder {
    private let x509: OpaquePointer

    /// An empty version 3 certificate with a random, positive 128-bit serial number.
    init() throws(PKIError) {
        x509 = try OpenSSLCall.check(X509_new(), .openssl, "cannot allocate a certificate")
        try OpenSSLCall.check(
            X509_set_version(x509, Int(X509_VERSION_3)) == 1,
            .openssl,
            "cannot set the certificate version"
        )
        var serial = SecureRandom.bytes(16)
        if serial.allSatisfy({ $0 == 0 }) {
            serial[serial.count - 1] = 1
        }
        let number = try OpenSSLCall.check(
            BN_bin2bn(serial, Int32(serial.count), nil),
            .openssl,
            "cannot make a serial number"
        )
        defer { BN_free(number) }
        let integer = try OpenSSLCall.check(BN_to_ASN1_INTEGER(number, nil), .openssl, "cannot make a serial number")
        defer { ASN1_INTEGER_free(integer) }
        try OpenSSLCall.check(X509_set_serialNumber(x509, integer) == 1, .openssl, "cannot set the serial number")
    }

    deinit {
        X509_free(x509)
    }

    /// Sets the subject name, and the issuer name too when `selfIssued`.
    func setSubject(_ subject: DistinguishedName, selfIssued: Bool) throws(PKIError) {
        try subject.withUnsafeNamePointer { (name) throws(PKIError) in
            try OpenSSLCall.check(X509_set_subject_name(x509, name) == 1, .openssl, "cannot set the subject")
            if selfIssued {
                try OpenSSLCall.check(X509_set_issuer_name(x509, name) == 1, .openssl, "cannot set the issuer")
            }
        }
    }

    /// Sets the issuer name to the subject name of `issuer`.
    func setIssuer(_ issuer: Certificate) throws(PKIError) {
        try issuer.withUnsafeX509Pointer { (issuer) throws(PKIError) in
            try OpenSSLCall.check(
                X509_set_issuer_name(x509, X509_get_subject_name(issuer)) == 1,
                .openssl,
                "cannot set the issuer"
            )
        }
    }

    /// Sets the validity period.
    ///
    /// - Throws: `.policy` when a date is not between 1970 and 9999.
    func setValidity(notBefore: Date, notAfter: Date) throws(PKIError) {
        let start = try CertificateBuilder.epochSeconds(notBefore)
        let end = try CertificateBuilder.epochSeconds(notAfter)
        try OpenSSLCall.check(ASN1_TIME_set(X509_getm_notBefore(x509), start) != nil, .openssl, "cannot set notBefore")
        try OpenSSLCall.check(ASN1_TIME_set(X509_getm_notAfter(x509), end) != nil, .openssl, "cannot set notAfter")
    }

    /// Sets the public key to the public half of the `EVP_PKEY *` `key`.
    func setPublicKey(_ key: OpaquePointer) throws(PKIError) {
        try OpenSSLCall.check(X509_set_pubkey(x509, key) == 1, .openssl, "cannot set the public key")
    }

    /// Adds the extension `nid` written in OpenSSL's configuration syntax (`value` is one
    /// of this module's constants, never outside input). `issuer` supplies the authority
    /// key identifier; nil means the certificate issues itself.
    func addExtension(_ nid: Int32, _ value: String, issuer: Certificate? = nil) throws(PKIError) {
        guard let issuer else {
            try addExtension(nid, value, issuerX509: x509)
            return
        }
        try issuer.withUnsafeX509Pointer { (issuer) throws(PKIError) in
            try addExtension(nid, value, issuerX509: issuer)
        }
    }

    /// Adds a subject alternative name extension with `dnsNames` as DNS names and
    /// `ipAddresses` as IP addresses; adds nothing when both are empty.
    ///
    /// - Throws: `.policy` when a DNS name is empty or not printable ASCII without spaces,
    ///   or an IP address is not an IPv4 or IPv6 literal.
    func addSubjectAlternativeNames(dnsNames: [String], ipAddresses: [String]) throws(PKIError) {
        if dnsNames.isEmpty && ipAddresses.isEmpty {
            return
        }
        let names = try OpenSSLCall.check(GENERAL_NAMES_new(), .openssl, "cannot allocate subject alternative names")
        defer { GENERAL_NAMES_free(names) }
        for dnsName in dnsNames {
            let bytes = Array(dnsName.utf8)
            guard !bytes.isEmpty, bytes.count <= 253, bytes.allSatisfy({ (0x21...0x7E).contains($0) }) else {
                throw PKIError(code: .policy, message: "\"\(dnsName)\" is not a DNS name")
            }
            try CertificateBuilder.append(GEN_DNS, bytes, ASN1_IA5STRING_new(), to: names)
        }
        for ipAddress in ipAddresses {
            try CertificateBuilder.append(
                GEN_IPADD,
                try CertificateBuilder.ipAddressOctets(ipAddress),
                ASN1_OCTET_STRING_new(),
                to: names
            )
        }
        try OpenSSLCall.check(
            X509_add1_ext_i2d(x509, NID_subject_alt_name, UnsafeMutableRawPointer(names), 0, UInt(X509V3_ADD_DEFAULT)) == 1,
            .openssl,
            "cannot add the subject alternative names"
        )
    }

    /// Signs the certificate with `key` (SHA-256; EdDSA without a separate digest) and
    /// returns it as read back from its DER encoding.
    func sign(with key: PrivateKey) throws(PKIError) -> Certificate {
        try key.withUnsafeKeyPointer { (key) throws(PKIError) in
            try OpenSSLCall.check(
                X509_sign(x509, key, KeyKind(key).signingDigest) > 0,
                .openssl,
                "cannot sign the certificate"
            )
        }
        return try Certificate(der: try Certificate.der(of: x509))
    }

    private func addExtension(_ nid: Int32, _ value: String, issuerX509: OpaquePointer) throws(PKIError) {
        var context = X509V3_CTX()
        X509V3_set_ctx(&context, issuerX509, x509, nil, nil, 0)
        let name = OBJ_nid2sn(nid).map { String(cString: $0) } ?? "extension"
        let created = try OpenSSLCall.check(
            X509V3_EXT_conf_nid(nil, &context, nid, value),
            .openssl,
            "cannot make the \(name) extension"
        )
        defer { X509_EXTENSION_free(created) }
        try OpenSSLCall.check(X509_add_ext(x509, created, -1) == 1, .openssl, "cannot add the \(name) extension")
    }

    /// Appends a general name of `type` whose value is the new ASN.1 string `newString`
    /// holding `bytes`; `newString` is owned by `names` afterwards, or freed on failure.
    private static func append(
        _ type: Int32,
        _ bytes: [UInt8],
        _ newString: UnsafeMutablePointer<ASN1_STRING>?,
        to names: OpaquePointer
    ) throws(PKIError) {
        let string = try OpenSSLCall.check(newString, .openssl, "cannot allocate a subject alternative name")
        guard ASN1_STRING_set(string, bytes, Int32(bytes.count)) == 1, let name = GENERAL_NAME_new() else {
            ASN1_STRING_free(string)
            throw OpenSSLCall.failure(.openssl, "cannot make a subject alternative name")
        }
        GENERAL_NAME_set0_value(name, type, string)
        guard nkudo_sk_GENERAL_NAME_push(names, name) > 0 else {
            GENERAL_NAME_free(name)
            throw OpenSSLCall.failure(.openssl, "cannot add a subject alternative name")
        }
    }

    /// The 4 or 16 network-order octets of an IPv4 or IPv6 literal.
    private static func ipAddressOctets(_ text: String) throws(PKIError) -> [UInt8] {
        var octets = [UInt8](repeating: 0, count: 16)
        if inet_pton(AF_INET, text, &octets) == 1 {
            return Array(octets.prefix(4))
        }
        if inet_pton(AF_INET6, text, &octets) == 1 {
            return octets
        }
        throw PKIError(code: .policy, message: "\"\(text)\" is not an IPv4 or IPv6 address")
    }

    /// Seconds since 1970 of `date`, which must lie between 1970 and the end of 9999.
    private static func epochSeconds(_ date: Date) throws(PKIError) -> time_t {
        let seconds = date.timeIntervalSince1970.rounded(.down)
        guard seconds >= 0, seconds <= 253_402_300_799 else {
            throw PKIError(code: .policy, message: "\(date) is outside the years 1970 to 9999")
        }
        return time_t(seconds)
    }
}
