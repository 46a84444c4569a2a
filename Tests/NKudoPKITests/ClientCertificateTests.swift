import Foundation
import NKudoPKI
import Testing

@Suite("Client certificates for agents")
struct ClientCertificateTests {
    /// Checks an issued client certificate with NKudoPKI and with `openssl`.
    private func checkClientCertificate(
        _ client: Certificate,
        ca: CertificateAuthority,
        commonName: String,
        now: Date,
        keyUsage: String,
        in directory: TemporaryDirectory
    ) throws {
        #expect(client.commonName == commonName)
        #expect(!client.isCA)
        #expect(client.hasClientAuthUsage)
        #expect(!client.hasServerAuthUsage)
        #expect(client.subjectAlternativeNames.isEmpty)
        #expect(client.isIssued(by: ca.certificate))
        #expect(!ca.certificate.isIssued(by: client))
        #expect(client.notBefore == now.addingTimeInterval(-60))
        #expect(client.notAfter == now.addingTimeInterval(7 * 86_400))

        try PEMFiles.write(try ca.certificate.pem(), to: directory.file("ca.pem"))
        try PEMFiles.write(try client.pem(), to: directory.file("client.pem"))
        let serial = try opensslSucceeding(["x509", "-noout", "-serial", "-in", "client.pem"], in: directory)
        let serialHex = serial.trimmingCharacters(in: .whitespacesAndNewlines).dropFirst("serial=".count)
        #expect(decimal(fromHex: String(serialHex)) == client.serialNumberDecimal)
        #expect(serialHex.count <= 34)

        let names = try opensslSucceeding(["x509", "-noout", "-subject", "-issuer", "-in", "client.pem"], in: directory)
        #expect(names.contains("subject=O = n-kudo-agent, CN = \(commonName)"))
        #expect(names.contains("issuer=O = n-kudo, CN = n-kudo test CA"))
        #expect(
            try opensslExtension("extendedKeyUsage", ofCertificate: "client.pem", in: directory)
                == ["X509v3 Extended Key Usage:", "TLS Web Client Authentication"]
        )
        #expect(
            try opensslExtension("keyUsage", ofCertificate: "client.pem", in: directory)
                == ["X509v3 Key Usage: critical", keyUsage]
        )
        #expect(try opensslExtension("subjectAltName", ofCertificate: "client.pem", in: directory).isEmpty)

        let caKeyIdentifier = try opensslExtension("subjectKeyIdentifier", ofCertificate: "ca.pem", in: directory)
        let authorityKeyIdentifier = try opensslExtension(
            "authorityKeyIdentifier",
            ofCertificate: "client.pem",
            in: directory
        )
        let caIdentifier = try #require(caKeyIdentifier.last)
        #expect(authorityKeyIdentifier.last.map { $0.hasSuffix(caIdentifier) } == true)

        let verified = try opensslSucceeding(
            ["verify", "-CAfile", "ca.pem", "-purpose", "sslclient", "client.pem"],
            in: directory
        )
        #expect(verified.contains("client.pem: OK"))
        let asServer = try openssl(["verify", "-CAfile", "ca.pem", "-purpose", "sslserver", "client.pem"], in: directory)
        #expect(asServer.status != 0)
    }

    @Test("a client certificate for an EC P-256 CSR made by NKudoPKI")
    func fromP256Request() throws {
        let now = wholeSecondNow()
        let ca = try makeCA(now: now)
        let agentKey = try PrivateKey.generateP256()
        let csr = try CertificateSigningRequest.create(key: agentKey, commonName: "agent-request")
        #expect(csr.keyDescription == "EC P-256")
        try csr.validate()

        let client = try ca.issueClientCertificate(for: csr, commonName: "agent-42", validity: 7 * 86_400, now: now)
        #expect(client.matches(agentKey))
        #expect(!client.matches(ca.key))
        let directory = try TemporaryDirectory()
        try checkClientCertificate(
            client,
            ca: ca,
            commonName: "agent-42",
            now: now,
            keyUsage: "Digital Signature",
            in: directory
        )
    }

    @Test("a client certificate for an RSA-2048 CSR made by openssl; the CSR's subject and extensions are ignored")
    func fromOpenSSLRSARequest() throws {
        let now = wholeSecondNow()
        let ca = try makeCA(now: now)
        let directory = try TemporaryDirectory()
        let csr = try opensslCSR(
            newKey: "rsa:2048",
            extraArguments: ["-addext", "extendedKeyUsage=serverAuth", "-addext", "subjectAltName=DNS:evil.example"],
            in: directory,
            name: "agent"
        )
        #expect(csr.keyDescription == "RSA 2048")
        try csr.validate()

        let client = try ca.issueClientCertificate(for: csr, commonName: "agent-rsa", validity: 7 * 86_400, now: now)
        let agentKey = try PrivateKey(pem: try PEMFiles.read(directory.file("agent.key")))
        #expect(client.matches(agentKey))
        try checkClientCertificate(
            client,
            ca: ca,
            commonName: "agent-rsa",
            now: now,
            keyUsage: "Digital Signature, Key Encipherment",
            in: directory
        )
    }

    @Test("an EC P-384 CSR is accepted")
    func acceptsP384() throws {
        let directory = try TemporaryDirectory()
        let csr = try opensslCSR(newKey: "ec", options: ["ec_paramgen_curve:P-384"], in: directory, name: "p384")
        #expect(csr.keyDescription == "EC P-384")
        let client = try makeCA().issueClientCertificate(for: csr, commonName: "agent", validity: 60, now: Date())
        #expect(client.hasClientAuthUsage)
    }

    @Test(
        "the key policy rejects small RSA keys and other curves and algorithms",
        arguments: [
            ("rsa:1024", [String](), "RSA 1024"),
            ("ec", ["ec_paramgen_curve:P-521"], "EC P-521"),
            ("ec", ["ec_paramgen_curve:secp256k1"], "EC secp256k1"),
            ("ed25519", [String](), "Ed25519"),
        ]
    )
    func policyRejects(newKey: String, options: [String], description: String) throws {
        let directory = try TemporaryDirectory()
        let csr = try opensslCSR(newKey: newKey, options: options, in: directory, name: "rejected")
        #expect(csr.keyDescription == description)
        let error = expectPKIError(.policy) { try csr.validate() }
        #expect(error?.message.contains(description) == true)
        expectPKIError(.policy) {
            _ = try makeCA().issueClientCertificate(for: csr, commonName: "agent", validity: 60, now: Date())
        }
    }

    @Test("a CSR whose signature was tampered with is rejected")
    func rejectsTamperedSignature() throws {
        let csr = try CertificateSigningRequest.create(key: try PrivateKey.generateP256(), commonName: "agent")
        let pem = try csr.pem()
        let body = pem.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
        var der = [UInt8](try #require(Data(base64Encoded: body)))
        // The last byte is the last byte of the ECDSA signature's s value.
        der[der.count - 1] ^= 0x01
        let tampered = "-----BEGIN CERTIFICATE REQUEST-----\n"
            + Data(der).base64EncodedString(options: .lineLength64Characters)
            + "\n-----END CERTIFICATE REQUEST-----\n"
        let parsed = try CertificateSigningRequest(pem: tampered)
        #expect(parsed.keyDescription == "EC P-256")
        expectPKIError(.signature) { try parsed.validate() }
        expectPKIError(.signature) {
            _ = try makeCA().issueClientCertificate(for: parsed, commonName: "agent", validity: 60, now: Date())
        }
    }

    @Test("an Ed25519 key can sign a CSR, which the policy then rejects")
    func ed25519Key() throws {
        let directory = try TemporaryDirectory()
        try opensslSucceeding(["genpkey", "-algorithm", "ed25519", "-out", "ed.key"], in: directory)
        let key = try PrivateKey(pem: try PEMFiles.read(directory.file("ed.key")))
        #expect(key.keyDescription == "Ed25519")
        let csr = try CertificateSigningRequest.create(key: key, commonName: "agent")
        #expect(csr.keyDescription == "Ed25519")
        expectPKIError(.policy) { try csr.validate() }
        try PEMFiles.write(try csr.pem(), to: directory.file("ed.csr"))
        try opensslSucceeding(["req", "-noout", "-verify", "-in", "ed.csr"], in: directory)
    }

    @Test("serial numbers are unique across 100 certificates")
    func uniqueSerials() throws {
        let now = wholeSecondNow()
        let ca = try makeCA(now: now)
        let csr = try CertificateSigningRequest.create(key: try PrivateKey.generateP256(), commonName: "agent")
        var serials = Set<String>()
        var fingerprints = Set<String>()
        for index in 0..<100 {
            let client = try ca.issueClientCertificate(for: csr, commonName: "agent-\(index)", validity: 60, now: now)
            serials.insert(client.serialNumberDecimal)
            fingerprints.insert(client.sha256Fingerprint)
            #expect(!client.serialNumberDecimal.hasPrefix("-"))
        }
        #expect(serials.count == 100)
        #expect(fingerprints.count == 100)
    }

    @Test("issuing refuses bad common names and validity periods")
    func issueChecksArguments() throws {
        let ca = try makeCA()
        let csr = try CertificateSigningRequest.create(key: try PrivateKey.generateP256(), commonName: "agent")
        expectPKIError(.policy) { _ = try ca.issueClientCertificate(for: csr, commonName: "", validity: 60, now: Date()) }
        expectPKIError(.policy) { _ = try ca.issueClientCertificate(for: csr, commonName: "a", validity: -1, now: Date()) }
        expectPKIError(.policy) { _ = try CertificateSigningRequest.create(key: try PrivateKey.generateP256(), commonName: "") }
    }

    @Test("a certificate from another CA is not issued by this one")
    func otherIssuer() throws {
        let now = wholeSecondNow()
        let ca = try makeCA(now: now)
        let impostor = try makeCA(now: now)  // same subject name, different key
        let csr = try CertificateSigningRequest.create(key: try PrivateKey.generateP256(), commonName: "agent")
        let client = try impostor.issueClientCertificate(for: csr, commonName: "agent", validity: 60, now: now)
        #expect(client.isIssued(by: impostor.certificate))
        #expect(!client.isIssued(by: ca.certificate))
    }
}
