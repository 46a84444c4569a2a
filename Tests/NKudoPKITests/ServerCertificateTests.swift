import Foundation
import NKudoPKI
import Testing

@Suite("Server certificates")
struct ServerCertificateTests {
    @Test("a server certificate carries DNS and IP subject alternative names")
    func subjectAlternativeNames() throws {
        let now = wholeSecondNow()
        let ca = try makeCA(now: now)
        let key = try PrivateKey.generateP256()
        let server = try ca.issueServerCertificate(
            key: key,
            commonName: "control-plane",
            dnsNames: ["localhost", "cp.n-kudo.internal"],
            ipAddresses: ["127.0.0.1", "::1", "2001:db8::7"],
            validity: 86_400,
            now: now
        )
        #expect(server.commonName == "control-plane")
        #expect(server.subjectAlternativeNames == ["localhost", "cp.n-kudo.internal", "127.0.0.1", "::1", "2001:db8::7"])
        #expect(server.hasServerAuthUsage)
        #expect(!server.hasClientAuthUsage)
        #expect(!server.isCA)
        #expect(server.matches(key))
        #expect(server.isIssued(by: ca.certificate))
        #expect(server.notBefore == now.addingTimeInterval(-300))
        #expect(server.notAfter == now.addingTimeInterval(86_400))

        let directory = try TemporaryDirectory()
        try PEMFiles.write(try ca.certificate.pem(), to: directory.file("ca.pem"))
        try PEMFiles.write(try server.pem(), to: directory.file("server.pem"))
        #expect(
            try opensslExtension("subjectAltName", ofCertificate: "server.pem", in: directory)
                == [
                    "X509v3 Subject Alternative Name:",
                    "DNS:localhost, DNS:cp.n-kudo.internal, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, "
                        + "IP Address:2001:DB8:0:0:0:0:0:7",
                ]
        )
        #expect(
            try opensslExtension("extendedKeyUsage", ofCertificate: "server.pem", in: directory)
                == ["X509v3 Extended Key Usage:", "TLS Web Server Authentication"]
        )
        #expect(
            try opensslExtension("keyUsage", ofCertificate: "server.pem", in: directory)
                == ["X509v3 Key Usage: critical", "Digital Signature"]
        )
        for check in [["-verify_hostname", "localhost"], ["-verify_ip", "127.0.0.1"], ["-verify_ip", "::1"]] {
            try opensslSucceeding(
                ["verify", "-CAfile", "ca.pem", "-purpose", "sslserver"] + check + ["server.pem"],
                in: directory
            )
        }
        let wrongHost = try openssl(
            ["verify", "-CAfile", "ca.pem", "-verify_hostname", "example.com", "server.pem"],
            in: directory
        )
        #expect(wrongHost.status != 0)
    }

    @Test("an RSA server key also gets keyEncipherment")
    func rsaServerKey() throws {
        let directory = try TemporaryDirectory()
        try opensslSucceeding(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "rsa.key"], in: directory)
        let key = try PrivateKey(pem: try PEMFiles.read(directory.file("rsa.key")))
        let server = try makeCA().issueServerCertificate(
            key: key,
            commonName: "cp",
            dnsNames: ["localhost"],
            ipAddresses: [],
            validity: 600,
            now: Date()
        )
        #expect(server.matches(key))
        try PEMFiles.write(try server.pem(), to: directory.file("server.pem"))
        #expect(
            try opensslExtension("keyUsage", ofCertificate: "server.pem", in: directory)
                == ["X509v3 Key Usage: critical", "Digital Signature, Key Encipherment"]
        )
    }

    @Test("malformed DNS names and IP addresses are refused", arguments: [
        ([""], [String]()),
        (["bad name"], []),
        (["bücher.example"], []),
        ([], ["1.2.3.4x"]),
        ([], ["localhost"]),
        ([], ["1.2.3"]),
    ])
    func malformedNames(dnsNames: [String], ipAddresses: [String]) throws {
        let ca = try makeCA()
        expectPKIError(.policy) {
            _ = try ca.issueServerCertificate(
                key: try PrivateKey.generateP256(),
                commonName: "cp",
                dnsNames: dnsNames,
                ipAddresses: ipAddresses,
                validity: 600,
                now: Date()
            )
        }
    }
}
