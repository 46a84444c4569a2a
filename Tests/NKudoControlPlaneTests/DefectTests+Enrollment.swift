import ControlPlaneTestSupport
import Foundation
import NIOHTTP1
import NKudoContract
import NKudoControlPlane
import NKudoPKI
import Testing

extension DefectTests {
    /// Enrollment: what an agent may send to /v1/enroll, and what a bad CSR does and does not cost it.
    @Suite("enrollment and CSRs")
    struct Enrollment {
        @Test("defect 12: enrollment accepts the agent's host_fingerprint and unknown fields")
        func defect12() async throws {
            try await ControlPlaneHarness.withFleet { harness, fleet in
                let token = try await fleet.tenantClient.issueEnrollmentToken(IssueEnrollmentTokenRequest(tenantId: fleet.tenant.id, siteId: fleet.site.id))
                let csr = try CertificateSigningRequest.create(key: try PrivateKey.generateP256(), commonName: "h").pem()
                let body = """
                    {"enrollment_token":"\(token.token)","requested_hostname":"h1","csr_pem":\(String(decoding: try JSONEncoder().encode(csr), as: UTF8.self)),
                     "host_fingerprint":{"machine_id_sha256":"ab","primary_mac_sha256":"cd"},"labels":{"os":"debian"},"future_field":[1,2,3]}
                    """
                let response = try await harness.send(try harness.client(), .POST, "/v1/enroll", body: Array(body.utf8),
                                                      headers: [("Content-Type", "application/json")])
                #expect(response.status == 200, "\(String(decoding: response.body, as: UTF8.self))")
            }
        }

        @Test("defect 34: a bad CSR does not burn the enrollment token")
        func defect34() async throws {
            try await ControlPlaneHarness.withFleet { harness, fleet in
                let token = try await fleet.tenantClient.issueEnrollmentToken(IssueEnrollmentTokenRequest(tenantId: fleet.tenant.id, siteId: fleet.site.id))
                let anonymous = AgentServiceClient(transport: TestTransport(harness: harness, client: try harness.client()))
                let bad = await ControlPlaneFlowTests.status {
                    try await anonymous.enroll(EnrollRequest(enrollmentToken: token.token, requestedHostname: "h", csrPem: "not a csr"))
                }
                #expect(bad == 400)
                let csr = try CertificateSigningRequest.create(key: try PrivateKey.generateP256(), commonName: "h").pem()
                let enrolled = try await anonymous.enroll(EnrollRequest(enrollmentToken: token.token, requestedHostname: "h", csrPem: csr))
                #expect(!enrolled.agentId.isEmpty)
                let again = await ControlPlaneFlowTests.status {
                    try await anonymous.enroll(EnrollRequest(enrollmentToken: token.token, requestedHostname: "h2", csrPem: csr))
                }
                #expect(again == 401)
            }
        }

        @Test("defect 37: weak CSR keys are refused at enrollment")
        func defect37() async throws {
            try await ControlPlaneHarness.withFleet { harness, fleet in
                let token = try await fleet.tenantClient.issueEnrollmentToken(IssueEnrollmentTokenRequest(tenantId: fleet.tenant.id, siteId: fleet.site.id))
                let directory = FileManager.default.temporaryDirectory.appending(path: "csr-\(UUID().uuidString)")
                try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
                defer { try? FileManager.default.removeItem(at: directory) }
                let process = Process()
                process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
                process.arguments = ["openssl", "req", "-new", "-newkey", "rsa:1024", "-nodes", "-subj", "/CN=weak",
                                     "-keyout", directory.appending(path: "k.pem").path, "-out", directory.appending(path: "r.pem").path]
                process.standardError = FileHandle.nullDevice
                try process.run()
                process.waitUntilExit()
                let csr = try String(contentsOf: directory.appending(path: "r.pem"), encoding: .utf8)
                let anonymous = AgentServiceClient(transport: TestTransport(harness: harness, client: try harness.client()))
                let status = await ControlPlaneFlowTests.status {
                    try await anonymous.enroll(EnrollRequest(enrollmentToken: token.token, requestedHostname: "h", csrPem: csr))
                }
                #expect(status == 400)
            }
        }

        @Test("defect 39: CSR and JSON errors are our own words, never OpenSSL's or the decoder's internals")
        func defect39() async throws {
            try await ControlPlaneHarness.withFleet { harness, fleet in
                let token = try await fleet.tenantClient.issueEnrollmentToken(IssueEnrollmentTokenRequest(tenantId: fleet.tenant.id, siteId: fleet.site.id))
                let client = try harness.client()
                let garbage = "-----BEGIN CERTIFICATE REQUEST-----\nAAAAAAAA\n-----END CERTIFICATE REQUEST-----\n"
                for csr in [garbage, "not a csr"] {
                    let body = try EnrollRequest(enrollmentToken: token.token, requestedHostname: "h", csrPem: csr).jsonBytes()
                    let response = try await harness.send(client, .POST, "/v1/enroll", body: body, headers: [("Content-Type", "application/json")])
                    let error = try ErrorMessage(jsonBytes: response.body, options: JSONDecodingOptions(ignoreUnknownFields: true))
                    #expect(response.status == 400)
                    #expect(error.error == "invalid csr: csr_pem is not a PEM certificate signing request")
                }
                let malformed = try await harness.send(client, .POST, "/v1/enroll", body: Array(#"{"csr_pem": 42}"#.utf8),
                                                       headers: [("Content-Type", "application/json")])
                let text = String(decoding: malformed.body, as: UTF8.self)
                #expect(malformed.status == 400)
                #expect(text.contains("csr_pem"), "the message names the field: \(text)")
                for leak in ["Swift.", "DecodingError", "NKudoWire", "error:0", "asn1", "PEM routines"] {
                    #expect(!text.contains(leak), "\(text)")
                }
            }
        }

        @Test("defect 41: a client presenting an expired certificate can still enroll (TLS accepts, the route decides)")
        func defect41() async throws {
            try await ControlPlaneHarness.withFleet { harness, fleet in
                let key = try PrivateKey.generateP256()
                let expired = try harness.pki.authority.issueClientCertificate(
                    for: try CertificateSigningRequest.create(key: key, commonName: "x"), commonName: UUID().uuidString.lowercased(),
                    validity: 60, now: Date().addingTimeInterval(-3600))
                let token = try await fleet.tenantClient.issueEnrollmentToken(IssueEnrollmentTokenRequest(tenantId: fleet.tenant.id, siteId: fleet.site.id))
                let client = try harness.client(certificatePEM: try expired.pem(), keyPEM: try key.pkcs8PEM())
                let enrolled = try await AgentServiceClient(transport: TestTransport(harness: harness, client: client)).enroll(EnrollRequest(
                    enrollmentToken: token.token, requestedHostname: "h", csrPem: try CertificateSigningRequest.create(key: key, commonName: "h").pem()))
                #expect(!enrolled.agentId.isEmpty)
            }
        }
    }
}
