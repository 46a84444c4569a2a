import ControlPlaneTestSupport
import Foundation
import Logging
import NKudoControlPlane
import NKudoPKI
import Testing

extension DefectTests {
    /// The CA, the server certificate and the files they are loaded from.
    @Suite("PKI and certificates")
    struct PKI {
        @Test("defect 19: the server certificate is issued by the CA agents are given")
        func defect19() async throws {
            try await ControlPlaneHarness.withFleet { harness, _ in
                let server = try Certificate(pem: harness.pki.serverCertificatePEM)
                #expect(server.isIssued(by: harness.pki.authority.certificate))
                #expect(server.hasServerAuthUsage)
                #expect(server.subjectAlternativeNames.contains("127.0.0.1"))
            }
        }

        @Test("defect 19: a loaded SERVER_CERT_FILE must chain to the loaded CA (directly or through its intermediates)")
        func defect19LoadedFiles() throws {
            try withCADirectory { directory, ca, now in
                let other = try CertificateAuthority.generate(commonName: "someone else", validity: 86400 * 30, now: now)
                let key = try PrivateKey.generateP256()
                try PEMFiles.writeSecret(try ca.key.pkcs8PEM(), to: directory + "/ca.key")
                try PEMFiles.writeSecret(try key.pkcs8PEM(), to: directory + "/server.key")
                var configuration = ControlPlaneConfiguration()
                configuration.dataDirectory = directory + "/data"
                configuration.adminKey = "k"
                configuration.caCertFile = directory + "/ca.crt"
                configuration.caKeyFile = directory + "/ca.key"
                configuration.serverCertFile = directory + "/server.crt"
                configuration.serverKeyFile = directory + "/server.key"
                for (issuer, accepted) in [(ca, true), (other, false)] {
                    let certificate = try issuer.issueServerCertificate(key: key, commonName: "localhost", dnsNames: ["localhost"], ipAddresses: [],
                                                                        validity: 86400, now: now)
                    try PEMFiles.write(try certificate.pem(), to: directory + "/server.crt")
                    if accepted {
                        _ = try ControlPlanePKI.load(configuration: configuration, now: now, logger: Logger(label: "test"))
                    } else {
                        let error = #expect(throws: ConfigurationError.self) {
                            try ControlPlanePKI.load(configuration: configuration, now: now, logger: Logger(label: "test"))
                        }
                        #expect(error?.setting == "SERVER_CERT_FILE")
                    }
                }
            }
        }

        @Test("a bad CA or server file is refused naming its setting and path; a CN or SAN past X.509's limits is refused at configuration")
        func filesNamed() throws {
            try withCADirectory { directory, _, now in
                try PEMFiles.write("not a certificate\n", to: directory + "/garbage.pem")
                try PEMFiles.writeSecret(try PrivateKey.generateP256().pkcs8PEM(), to: directory + "/other.key")
                for (cert, key, setting, file) in [("garbage.pem", "other.key", "CA_CERT_FILE", "garbage.pem"),
                                                   ("ca.crt", "other.key", "CA_KEY_FILE", "other.key"),
                                                   ("ca.crt", "garbage.pem", "CA_KEY_FILE", "garbage.pem")] {
                    var configuration = ControlPlaneConfiguration()
                    configuration.dataDirectory = directory + "/data"
                    configuration.caCertFile = directory + "/" + cert
                    configuration.caKeyFile = directory + "/" + key
                    let error = #expect(throws: ConfigurationError.self) {
                        try ControlPlanePKI.load(configuration: configuration, now: now, logger: Logger(label: "test"))
                    }
                    #expect(error?.setting == setting && error?.description.contains(directory + "/" + file) == true, "\(error?.description ?? "")")
                }
                // 40 × "é" as e + U+0301: 40 characters, 80 scalars, which is what X.509's limit counts.
                for (name, value) in [("CA_COMMON_NAME", String(repeating: "c", count: 65)), ("CA_COMMON_NAME", "ca\u{1b}[2J"),
                                      ("CA_COMMON_NAME", String(repeating: "e\u{301}", count: 40)),
                                      ("SERVER_CERT_SANS", "localhost," + String(repeating: "a", count: 300)), ("SERVER_CERT_SANS", "a b")] {
                    let error = #expect(throws: ConfigurationError.self) { try ControlPlaneConfiguration.resolve(flags: [:], environment: [name: value]) }
                    #expect(error?.setting == name)
                }
            }
        }

        @Test("defect 36: the generated CA and server certificate survive a restart")
        func defect36() async throws {
            var configuration = ControlPlaneConfiguration()
            configuration.dataDirectory = FileManager.default.temporaryDirectory.appending(path: "nkudo-pki-\(UUID().uuidString)").path
            defer { try? FileManager.default.removeItem(atPath: configuration.dataDirectory) }
            let logger = Logger(label: "test")
            let first = try ControlPlanePKI.load(configuration: configuration, now: Date(), logger: logger)
            let second = try ControlPlanePKI.load(configuration: configuration, now: Date(), logger: logger)
            #expect(first.caFingerprint == second.caFingerprint)
            #expect(first.serverCertificatePEM == second.serverCertificatePEM)
            #expect(first.adminKey == second.adminKey)
            let keyPath = configuration.dataDirectory + "/pki/ca.key"
            let mode = try FileManager.default.attributesOfItem(atPath: keyPath)[.posixPermissions] as? Int
            #expect(mode == 0o600)
        }

        /// Runs `body` with a new directory holding `ca.crt` of a new CA ("agents"), removed afterwards.
        private func withCADirectory(_ body: (_ directory: String, _ ca: CertificateAuthority, _ now: Date) throws -> Void) throws {
            let directory = FileManager.default.temporaryDirectory.appending(path: "nkudo-pki-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let now = Date()
            let ca = try CertificateAuthority.generate(commonName: "agents", validity: 86400 * 30, now: now)
            try PEMFiles.write(try ca.certificate.pem(), to: directory + "/ca.crt")
            try body(directory, ca, now)
        }
    }
}
