import Foundation
import NKudoPKI
import Testing

@Suite("Certificate authority")
struct CertificateAuthorityTests {
    @Test("a generated CA has the requested properties, cross-checked with openssl")
    func generatedCA() throws {
        let now = wholeSecondNow()
        let ca = try CertificateAuthority.generate(commonName: "n-kudo root", validity: 86_400 * 30, now: now)
        let certificate = ca.certificate

        #expect(certificate.commonName == "n-kudo root")
        #expect(certificate.isCA)
        #expect(certificate.isIssued(by: certificate))
        #expect(certificate.matches(ca.key))
        #expect(certificate.notBefore == now.addingTimeInterval(-300))
        #expect(certificate.notAfter == now.addingTimeInterval(86_400 * 30))
        #expect(certificate.isValid(at: now))
        #expect(!certificate.isValid(at: now.addingTimeInterval(-301)))
        #expect(!certificate.isValid(at: now.addingTimeInterval(86_400 * 30 + 1)))
        #expect(!certificate.hasClientAuthUsage)
        #expect(!certificate.hasServerAuthUsage)
        #expect(certificate.subjectAlternativeNames.isEmpty)
        #expect(ca.key.keyDescription == "EC P-256")
        _ = try CertificateAuthority(certificate: certificate, key: ca.key, now: now)

        let directory = try TemporaryDirectory()
        try PEMFiles.write(try certificate.pem(), to: directory.file("ca.pem"))
        let fingerprint = try opensslSucceeding(
            ["x509", "-noout", "-fingerprint", "-sha256", "-in", "ca.pem"],
            in: directory
        )
        let normalized = fingerprint
            .split(separator: "=", maxSplits: 1).last.map(String.init)?
            .replacingOccurrences(of: ":", with: "")
            .trimmingCharacters(in: .whitespacesAndNewlines)
            .lowercased()
        #expect(normalized == certificate.sha256Fingerprint)
        #expect(certificate.sha256Fingerprint.count == 64)

        let subject = try opensslSucceeding(["x509", "-noout", "-subject", "-issuer", "-in", "ca.pem"], in: directory)
        #expect(subject.contains("subject=O = n-kudo, CN = n-kudo root"))
        #expect(subject.contains("issuer=O = n-kudo, CN = n-kudo root"))
        #expect(
            try opensslExtension("basicConstraints", ofCertificate: "ca.pem", in: directory)
                == ["X509v3 Basic Constraints: critical", "CA:TRUE, pathlen:0"]
        )
        #expect(
            try opensslExtension("keyUsage", ofCertificate: "ca.pem", in: directory)
                == ["X509v3 Key Usage: critical", "Certificate Sign, CRL Sign"]
        )
        #expect(try opensslExtension("subjectKeyIdentifier", ofCertificate: "ca.pem", in: directory).count == 2)
        try opensslSucceeding(["verify", "-CAfile", "ca.pem", "ca.pem"], in: directory)

        let serial = try opensslSucceeding(["x509", "-noout", "-serial", "-in", "ca.pem"], in: directory)
        #expect(decimal(fromHex: String(serial.dropFirst("serial=".count))) == certificate.serialNumberDecimal)
    }

    @Test("loading a CA refuses a key that does not match the certificate")
    func rejectsMismatchedKey() throws {
        let now = wholeSecondNow()
        let ca = try makeCA(now: now)
        let otherKey = try PrivateKey.generateP256()
        #expect(!ca.certificate.matches(otherKey))
        expectPKIError(.mismatch) {
            _ = try CertificateAuthority(certificate: ca.certificate, key: otherKey, now: now)
        }
    }

    @Test("loading a CA refuses a certificate without CA:TRUE")
    func rejectsNonCA() throws {
        let now = wholeSecondNow()
        let ca = try makeCA(now: now)
        let serverKey = try PrivateKey.generateP256()
        let server = try ca.issueServerCertificate(
            key: serverKey,
            commonName: "server",
            dnsNames: ["localhost"],
            ipAddresses: [],
            validity: 3600,
            now: now
        )
        #expect(!server.isCA)
        expectPKIError(.notCA) {
            _ = try CertificateAuthority(certificate: server, key: serverKey, now: now)
        }
    }

    @Test("loading a CA refuses one that has expired or is not yet valid")
    func rejectsExpiredCA() throws {
        let issued = Date(timeIntervalSince1970: 1_600_000_000)
        let ca = try CertificateAuthority.generate(commonName: "old CA", validity: 3600, now: issued)
        let error = expectPKIError(.notValidNow) {
            _ = try CertificateAuthority(certificate: ca.certificate, key: ca.key, now: Date())
        }
        #expect(error?.message.contains("not at") == true)
        expectPKIError(.notValidNow) {
            _ = try CertificateAuthority(certificate: ca.certificate, key: ca.key, now: issued.addingTimeInterval(-3600))
        }
        _ = try CertificateAuthority(certificate: ca.certificate, key: ca.key, now: issued.addingTimeInterval(1800))
    }

    @Test("generating a CA refuses bad names and validity periods")
    func generateChecksArguments() {
        expectPKIError(.policy) { _ = try CertificateAuthority.generate(commonName: "", validity: 3600, now: Date()) }
        expectPKIError(.policy) {
            _ = try CertificateAuthority.generate(commonName: String(repeating: "x", count: 65), validity: 3600, now: Date())
        }
        expectPKIError(.policy) { _ = try CertificateAuthority.generate(commonName: "a\u{0}b", validity: 3600, now: Date()) }
        expectPKIError(.policy) { _ = try CertificateAuthority.generate(commonName: "ca", validity: 0, now: Date()) }
        expectPKIError(.policy) { _ = try CertificateAuthority.generate(commonName: "ca", validity: .infinity, now: Date()) }
        expectPKIError(.policy) {
            _ = try CertificateAuthority.generate(commonName: "ca", validity: 1e12, now: Date())
        }
    }
}
