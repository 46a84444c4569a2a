import Foundation
import NKudoPKI
import Testing

@Suite("PEM and DER encodings")
struct PEMTests {
    @Test("a generated key survives a PKCS#8 round trip")
    func keyRoundTrip() throws {
        let key = try PrivateKey.generateP256()
        let pem = try key.pkcs8PEM()
        #expect(pem.hasPrefix("-----BEGIN PRIVATE KEY-----\n"))
        #expect(pem.hasSuffix("-----END PRIVATE KEY-----\n"))
        let reread = try PrivateKey(pem: pem)
        #expect(try reread.pkcs8PEM() == pem)
        #expect(reread.keyDescription == "EC P-256")
    }

    @Test("SEC1 EC and PKCS#1 RSA keys written by openssl are read", arguments: [
        (["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "key.pem"], "-----BEGIN EC PRIVATE KEY-----", "EC P-256"),
        (["genrsa", "-traditional", "-out", "key.pem", "2048"], "-----BEGIN RSA PRIVATE KEY-----", "RSA 2048"),
        (["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384", "-out", "key.pem"], "-----BEGIN PRIVATE KEY-----", "EC P-384"),
    ])
    func traditionalKeys(arguments: [String], header: String, description: String) throws {
        let directory = try TemporaryDirectory()
        try opensslSucceeding(arguments, in: directory)
        let text = try PEMFiles.read(directory.file("key.pem"))
        #expect(text.hasPrefix(header))
        let key = try PrivateKey(pem: "junk before the key\n" + text)
        #expect(key.keyDescription == description)
        let pkcs8 = try key.pkcs8PEM()
        #expect(pkcs8.hasPrefix("-----BEGIN PRIVATE KEY-----"))

        // openssl reads our PKCS#8 back as the same key.
        try PEMFiles.writeSecret(pkcs8, to: directory.file("pkcs8.pem"))
        let original = try opensslSucceeding(["pkey", "-pubout", "-in", "key.pem"], in: directory)
        let roundTripped = try opensslSucceeding(["pkey", "-pubout", "-in", "pkcs8.pem"], in: directory)
        #expect(original == roundTripped)
    }

    @Test("an encrypted key is refused without prompting")
    func encryptedKey() throws {
        let directory = try TemporaryDirectory()
        try opensslSucceeding(
            ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-aes256", "-pass", "pass:secret", "-out", "key.pem"],
            in: directory
        )
        let text = try PEMFiles.read(directory.file("key.pem"))
        #expect(text.hasPrefix("-----BEGIN ENCRYPTED PRIVATE KEY-----"))
        expectPKIError(.invalidPEM) { _ = try PrivateKey(pem: text) }
    }

    @Test("a CSR survives a PEM round trip and junk before it is skipped")
    func requestRoundTrip() throws {
        let csr = try CertificateSigningRequest.create(key: try PrivateKey.generateP256(), commonName: "agent")
        let pem = try csr.pem()
        #expect(pem.hasPrefix("-----BEGIN CERTIFICATE REQUEST-----\n"))
        let reread = try CertificateSigningRequest(pem: "Some header\nmore junk\n" + pem)
        #expect(try reread.pem() == pem)
        try reread.validate()

        let directory = try TemporaryDirectory()
        try PEMFiles.write(pem, to: directory.file("agent.csr"))
        let subject = try opensslSucceeding(["req", "-noout", "-verify", "-subject", "-in", "agent.csr"], in: directory)
        #expect(subject.contains("subject=CN = agent"))
    }

    @Test("a certificate survives PEM and DER round trips")
    func certificateRoundTrip() throws {
        let ca = try makeCA()
        let pem = try ca.certificate.pem()
        #expect(pem.hasPrefix("-----BEGIN CERTIFICATE-----\n"))
        let fromPEM = try Certificate(pem: "junk\n" + pem)
        let fromDER = try Certificate(der: ca.certificate.derBytes)
        #expect(fromPEM == ca.certificate)
        #expect(fromDER == ca.certificate)
        #expect(Set([ca.certificate, fromPEM, fromDER]).count == 1)
        #expect(try fromDER.pem() == pem)
        #expect(fromPEM.serialNumberDecimal == ca.certificate.serialNumberDecimal)
        #expect(fromPEM.notAfter == ca.certificate.notAfter)
        #expect(fromPEM.commonName == "n-kudo test CA")

        expectPKIError(.invalidPEM) { _ = try Certificate(der: ca.certificate.derBytes + [0]) }
        expectPKIError(.invalidPEM) { _ = try Certificate(der: Array(ca.certificate.derBytes.dropLast())) }
        expectPKIError(.invalidPEM) { _ = try Certificate(der: []) }
    }

    @Test("a chain yields every certificate in order, skipping other blocks")
    func chain() throws {
        let now = wholeSecondNow()
        let ca = try makeCA(now: now)
        let serverKey = try PrivateKey.generateP256()
        let server = try ca.issueServerCertificate(
            key: serverKey,
            commonName: "cp",
            dnsNames: ["localhost"],
            ipAddresses: [],
            validity: 600,
            now: now
        )
        let bundle = "leading text\n" + (try server.pem()) + "\n" + (try serverKey.pkcs8PEM()) + "between\n"
            + (try ca.certificate.pem()) + "trailing text\n"
        let chain = try Certificate.chain(pem: bundle)
        #expect(chain == [server, ca.certificate])
        #expect(chain[0].isIssued(by: chain[1]))
        #expect(try Certificate(pem: bundle) == server)

        expectPKIError(.invalidPEM) { _ = try Certificate.chain(pem: "no certificates here") }
        let broken = (try server.pem()) + "-----BEGIN CERTIFICATE-----\nnot base64!!\n-----END CERTIFICATE-----\n"
        expectPKIError(.invalidPEM) { _ = try Certificate.chain(pem: broken) }
    }

    @Test("garbage is refused as .invalidPEM", arguments: [
        "",
        "hello",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        "-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n",
        "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n",
        "-----BEGIN CERTIFICATE-----\n",
    ])
    func garbage(text: String) {
        let error = expectPKIError(.invalidPEM) { _ = try Certificate(pem: text) }
        #expect(error.map { $0.description.hasPrefix("invalid_pem: ") } == true)
        expectPKIError(.invalidPEM) { _ = try Certificate.chain(pem: text) }
        expectPKIError(.invalidPEM) { _ = try CertificateSigningRequest(pem: text) }
        expectPKIError(.invalidPEM) { _ = try PrivateKey(pem: text) }
    }

    @Test("an OpenSSL failure carries OpenSSL's reason")
    func openSSLReason() {
        let error = expectPKIError(.invalidPEM) { _ = try Certificate(pem: "nothing") }
        #expect(error?.message.contains("no start line") == true)
    }

    @Test("a public key is not a private key")
    func blocksOfTheWrongKind() throws {
        let directory = try TemporaryDirectory()
        let key = try PrivateKey.generateP256()
        try PEMFiles.writeSecret(try key.pkcs8PEM(), to: directory.file("key.pem"))
        let publicKey = try opensslSucceeding(["pkey", "-pubout", "-in", "key.pem"], in: directory)
        expectPKIError(.invalidPEM) { _ = try PrivateKey(pem: publicKey) }
        expectPKIError(.invalidPEM) { _ = try Certificate(pem: try key.pkcs8PEM()) }
    }
}
