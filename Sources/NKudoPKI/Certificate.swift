public import Foundation
internal import COpenSSL

#if canImport(Glibc)
internal import Glibc
#elseif canImport(Darwin)
internal import Darwin
#endif

/// An X.509 certificate, held by OpenSSL.
///
/// The DER encoding, serial number and validity dates are read once, when the
/// certificate is created; a certificate whose fields cannot be read is refused then.
/// Two certificates are equal when their DER encodings are.
///
/// `@unchecked Sendable`: the certificate is never modified after `init`, and OpenSSL 3
/// guards the one cache it fills on reading (the decoded extensions) with the
/// certificate's own lock.
public final class Certificate: @unchecked Sendable, Hashable {
    private let x509: OpaquePointer

    /// The DER encoding of the certificate.
    public let derBytes: [UInt8]
    /// The serial number in decimal (`BN_bn2dec`).
    public let serialNumberDecimal: String
    /// The start of the validity period.
    public let notBefore: Date
    /// The end of the validity period.
    public let notAfter: Date

    /// Adopts the `X509 *` `x509`; it is freed with this object, also when reading its
    /// fields fails.
    init(takingOwnership x509: OpaquePointer) throws(PKIError) {
        do throws(PKIError) {
            derBytes = try Certificate.der(of: x509)
            serialNumberDecimal = try Certificate.serialDecimal(of: x509)
            notBefore = try Certificate.date(X509_get0_notBefore(x509), "notBefore")
            notAfter = try Certificate.date(X509_get0_notAfter(x509), "notAfter")
        } catch {
            X509_free(x509)
            throw error
        }
        self.x509 = x509
    }

    deinit {
        X509_free(x509)
    }

    /// Reads the first `CERTIFICATE` block in `pem`; anything before it is skipped.
    ///
    /// - Throws: `.invalidPEM` when there is no readable certificate.
    public convenience init(pem: String) throws(PKIError) {
        let x509 = try pemObject("CERTIFICATE", from: pem) { PEM_read_bio_X509($0, nil, refusePassphrase, nil) }
        try self.init(takingOwnership: x509)
    }

    /// Reads every `CERTIFICATE` block in `pem`, in order; other blocks and text between
    /// blocks are skipped.
    ///
    /// - Throws: `.invalidPEM` when there is no certificate or a certificate block is broken.
    public static func chain(pem: String) throws(PKIError) -> [Certificate] {
        let bio = try MemoryBIO(copying: pem)
        var certificates: [Certificate] = []
        while true {
            guard let x509 = bio.withUnsafeBIOPointer({ PEM_read_bio_X509($0, nil, refusePassphrase, nil) }) else {
                if !certificates.isEmpty, OpenSSLCall.consumeEndOfPEMInput() {
                    return certificates
                }
                throw OpenSSLCall.failure(
                    .invalidPEM,
                    "cannot read CERTIFICATE block \(certificates.count + 1) of the chain"
                )
            }
            certificates.append(try Certificate(takingOwnership: x509))
        }
    }

    /// Reads a DER-encoded certificate; `der` must hold exactly one certificate.
    ///
    /// - Throws: `.invalidPEM` when `der` is not one valid certificate.
    public convenience init(der: [UInt8]) throws(PKIError) {
        var consumed = 0
        let parsed = der.withUnsafeBufferPointer { buffer -> OpaquePointer? in
            var cursor = buffer.baseAddress
            let x509 = d2i_X509(nil, &cursor, buffer.count)
            if let start = buffer.baseAddress, let cursor {
                consumed = cursor - start
            }
            return x509
        }
        let x509 = try OpenSSLCall.check(parsed, .invalidPEM, "the DER bytes are not a certificate")
        guard consumed == der.count else {
            X509_free(x509)
            throw PKIError(
                code: .invalidPEM,
                message: "\(der.count - consumed) bytes follow the DER-encoded certificate"
            )
        }
        try self.init(takingOwnership: x509)
    }

    /// The certificate as PEM (`-----BEGIN CERTIFICATE-----`).
    public func pem() throws(PKIError) -> String {
        try pemText("certificate") { PEM_write_bio_X509($0, x509) }
    }

    /// The first common name (CN) of the subject, if there is one.
    public var commonName: String? {
        guard let subject = X509_get_subject_name(x509) else {
            return nil
        }
        let index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1)
        guard index >= 0, let entry = X509_NAME_get_entry(subject, index),
            let value = X509_NAME_ENTRY_get_data(entry)
        else {
            return nil
        }
        var utf8: UnsafeMutablePointer<UInt8>?
        let length = ASN1_STRING_to_UTF8(&utf8, value)
        guard OpenSSLCall.query(length >= 0), let utf8 else {
            return nil
        }
        defer { nkudo_OPENSSL_free(utf8) }
        return String(decoding: UnsafeBufferPointer(start: utf8, count: Int(length)), as: UTF8.self)
    }

    /// Whether basic constraints say `CA:TRUE`.
    public var isCA: Bool {
        X509_get_extension_flags(x509) & UInt32(EXFLAG_CA) != 0
    }

    /// Whether an extended key usage extension is present and lists clientAuth.
    public var hasClientAuthUsage: Bool {
        hasExtendedKeyUsage(UInt32(XKU_SSL_CLIENT))
    }

    /// Whether an extended key usage extension is present and lists serverAuth.
    public var hasServerAuthUsage: Bool {
        hasExtendedKeyUsage(UInt32(XKU_SSL_SERVER))
    }

    /// The SHA-256 fingerprint: lowercase hex of the SHA-256 of the DER, without colons.
    public var sha256Fingerprint: String {
        Digest.sha256Hex(derBytes)
    }

    /// The DNS names and IP addresses of the subject alternative name extension, as text
    /// ("localhost", "127.0.0.1", "::1"), in order; other kinds of names are left out.
    public var subjectAlternativeNames: [String] {
        guard let extensionValue = X509_get_ext_d2i(x509, NID_subject_alt_name, nil, nil) else {
            _ = OpenSSLCall.query(false)
            return []
        }
        let names = OpaquePointer(extensionValue)
        defer { GENERAL_NAMES_free(names) }
        var result: [String] = []
        for index in 0..<nkudo_sk_GENERAL_NAME_num(names) {
            guard let name = nkudo_sk_GENERAL_NAME_value(names, index) else {
                continue
            }
            switch name.pointee.type {
            case GEN_DNS:
                result.append(Certificate.text(of: name.pointee.d.dNSName))
            case GEN_IPADD:
                if let address = Certificate.ipAddressText(name.pointee.d.iPAddress) {
                    result.append(address)
                }
            default:
                continue
            }
        }
        return result
    }

    /// Whether this certificate's issuer name is `issuer`'s subject name and its signature
    /// verifies with `issuer`'s public key.
    public func isIssued(by issuer: Certificate) -> Bool {
        do {
            try verifyIssued(by: issuer)
            return true
        } catch {
            return false
        }
    }

    /// Whether `key` is the private key of this certificate's public key.
    public func matches(_ key: PrivateKey) -> Bool {
        do {
            try verifyMatches(key)
            return true
        } catch {
            return false
        }
    }

    /// Whether `date` lies within the validity period (both ends included).
    public func isValid(at date: Date) -> Bool {
        notBefore <= date && date <= notAfter
    }

    public static func == (lhs: Certificate, rhs: Certificate) -> Bool {
        lhs.derBytes == rhs.derBytes
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(derBytes)
    }

    /// Throws `.signature` unless `issuer` issued this certificate (see `isIssued(by:)`).
    func verifyIssued(by issuer: Certificate) throws(PKIError) {
        try issuer.withUnsafeX509Pointer { (issuerX509) throws(PKIError) in
            try OpenSSLCall.check(
                X509_NAME_cmp(X509_get_issuer_name(x509), X509_get_subject_name(issuerX509)) == 0,
                .signature,
                "the certificate's issuer is not the subject of the issuing certificate"
            )
            let issuerKey = try OpenSSLCall.check(
                X509_get0_pubkey(issuerX509),
                .signature,
                "the issuing certificate has no usable public key"
            )
            try OpenSSLCall.check(
                X509_verify(x509, issuerKey) == 1,
                .signature,
                "the certificate's signature does not verify with the issuer's public key"
            )
        }
    }

    /// Throws `.mismatch` unless `key` belongs to this certificate.
    func verifyMatches(_ key: PrivateKey) throws(PKIError) {
        try key.withUnsafeKeyPointer { (key) throws(PKIError) in
            try OpenSSLCall.check(
                X509_check_private_key(x509, key) == 1,
                .mismatch,
                "the private key does not belong to the certificate"
            )
        }
    }

    /// Lends the `X509 *` to `body`; it must not escape.
    func withUnsafeX509Pointer<Result, Failure: Error>(
        _ body: (OpaquePointer) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        try body(x509)
    }

    private func hasExtendedKeyUsage(_ usage: UInt32) -> Bool {
        X509_get_extension_flags(x509) & UInt32(EXFLAG_XKUSAGE) != 0
            && X509_get_extended_key_usage(x509) & usage != 0
    }

    /// The DER encoding of the `X509 *` `x509`.
    static func der(of x509: OpaquePointer) throws(PKIError) -> [UInt8] {
        let length = i2d_X509(x509, nil)
        try OpenSSLCall.check(length > 0, .openssl, "cannot encode the certificate as DER")
        var der = [UInt8](repeating: 0, count: Int(length))
        let written = der.withUnsafeMutableBufferPointer { buffer in
            var cursor = buffer.baseAddress
            return i2d_X509(x509, &cursor)
        }
        try OpenSSLCall.check(written == length, .openssl, "cannot encode the certificate as DER")
        return der
    }

    private static func serialDecimal(of x509: OpaquePointer) throws(PKIError) -> String {
        let number = try OpenSSLCall.check(
            ASN1_INTEGER_to_BN(X509_get0_serialNumber(x509), nil),
            .invalidPEM,
            "cannot read the serial number"
        )
        defer { BN_free(number) }
        let decimal = try OpenSSLCall.check(BN_bn2dec(number), .openssl, "cannot format the serial number")
        defer { nkudo_OPENSSL_free(decimal) }
        return String(cString: decimal)
    }

    private static func date(_ time: UnsafePointer<ASN1_TIME>?, _ field: String) throws(PKIError) -> Date {
        var components = tm()
        try OpenSSLCall.check(ASN1_TIME_to_tm(time, &components) == 1, .invalidPEM, "cannot read \(field)")
        return Date(timeIntervalSince1970: TimeInterval(timegm(&components)))
    }

    private static func text(of string: UnsafeMutablePointer<ASN1_STRING>?) -> String {
        guard let string, let data = ASN1_STRING_get0_data(string) else {
            return ""
        }
        return String(decoding: UnsafeBufferPointer(start: data, count: Int(ASN1_STRING_length(string))), as: UTF8.self)
    }

    private static func ipAddressText(_ octets: UnsafeMutablePointer<ASN1_STRING>?) -> String? {
        guard let octets, let data = ASN1_STRING_get0_data(octets) else {
            return nil
        }
        let family: Int32
        switch ASN1_STRING_length(octets) {
        case 4: family = AF_INET
        case 16: family = AF_INET6
        default: return nil
        }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        guard inet_ntop(family, data, &buffer, socklen_t(buffer.count)) != nil else {
            return nil
        }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
