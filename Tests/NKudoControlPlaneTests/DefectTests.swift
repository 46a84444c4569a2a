import ControlPlaneTestSupport
import Foundation
import NIOHTTP1
import NKudoStore
import Logging
import NKudoContract
@testable import NKudoControlPlane
import NKudoPKI
import Testing

/// The original's defects (reference §15) that live in the HTTP layer, services or PKI,
/// one test each, named after the defect. Store-level defects are tested in NKudoStoreTests.
@Suite("Reference §15 defects (control plane)", .serialized)
struct DefectTests {
    static func withHarness(_ tweak: (inout ControlPlaneConfiguration) -> Void = { _ in },
                            _ body: (ControlPlaneHarness, Fleet) async throws -> Void) async throws {
        let harness = try await ControlPlaneHarness(tweak: tweak)
        do {
            try await body(harness, try await Fleet.create(harness))
        } catch {
            await harness.shutdown()
            throw error
        }
        await harness.shutdown()
    }

    @Test("defect 12: enrollment accepts the agent's host_fingerprint and unknown fields")
    func defect12() async throws {
        try await Self.withHarness { harness, fleet in
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

    @Test("defect 13: results may carry execution_id and started_at per action")
    func defect13() async throws {
        try await Self.withHarness { harness, fleet in
            let agent = try await fleet.enrollAgent()
            _ = try await fleet.tenantClient.applyPlan(ApplyPlanRequest(siteId: fleet.site.id, idempotencyKey: "k", actions: [.init(operation: .create)]))
            let plan = try #require(try await agent.client.heartbeat(HeartbeatRequest()).pendingPlans.first)
            let response = try await agent.client.reportExecutionResult(ReportExecutionResultRequest(
                executionId: plan.executionId,
                results: [.init(executionId: plan.actions[0].executionId, actionId: plan.actions[0].actionId, ok: true, message: "ok",
                                startedAt: Date().protoTimestamp, finishedAt: Date().protoTimestamp)]))
            #expect(response.status == "accepted")
        }
    }

    @Test("defect 16 and 26: agent VM states map to control-plane states; cloud_hypervisor_available is never inferred from KVM")
    func defect16And26() {
        #expect(HeartbeatNormalizer.vmState("created") == .stopped)
        #expect(HeartbeatNormalizer.vmState("deleted") == .deleted)
        #expect(HeartbeatNormalizer.vmState("running") == .running)
        let ingest = HeartbeatNormalizer.normalize(HeartbeatRequest(kvmAvailable: true), agentID: "a", now: Date())
        #expect(ingest.kvmAvailable)
        #expect(!ingest.cloudHypervisorAvailable)
    }

    @Test("defect 18: heartbeat_endpoint is the Heartbeat RPC's path, relative to the base URL the agent enrolled with, and it works")
    func defect18() async throws {
        try await Self.withHarness { harness, fleet in
            let agent = try await fleet.enrollAgent()
            #expect(agent.response.heartbeatEndpoint == AgentService.Method.heartbeat.bindings[0].path)
            #expect(agent.response.heartbeatEndpoint.hasPrefix("/"))
            let client = try harness.client(certificatePEM: agent.response.clientCertificatePem, keyPEM: agent.keyPEM)
            let response = try await harness.send(client, .POST, agent.response.heartbeatEndpoint, body: Array("{}".utf8),
                                                  headers: [("Content-Type", "application/json")])
            #expect(response.status == 200)
        }
    }

    @Test("defect 39: CSR and JSON errors are our own words, never OpenSSL's or the decoder's internals")
    func defect39() async throws {
        try await Self.withHarness { harness, fleet in
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

    @Test("defect 19: the server certificate is issued by the CA agents are given")
    func defect19() async throws {
        try await Self.withHarness { harness, _ in
            let server = try Certificate(pem: harness.pki.serverCertificatePEM)
            #expect(server.isIssued(by: harness.pki.authority.certificate))
            #expect(server.hasServerAuthUsage)
            #expect(server.subjectAlternativeNames.contains("127.0.0.1"))
        }
    }

    @Test("defect 19: a loaded SERVER_CERT_FILE must chain to the loaded CA (directly or through its intermediates)")
    func defect19LoadedFiles() throws {
        let directory = FileManager.default.temporaryDirectory.appending(path: "nkudo-pki-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let now = Date()
        let ca = try CertificateAuthority.generate(commonName: "agents", validity: 86400 * 30, now: now)
        let other = try CertificateAuthority.generate(commonName: "someone else", validity: 86400 * 30, now: now)
        let key = try PrivateKey.generateP256()
        try PEMFiles.write(try ca.certificate.pem(), to: directory + "/ca.crt")
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

    @Test("defect 22 and 10: unknown operations, missing or malformed vm ids are 400s, never a crash")
    func defect22() async throws {
        try await Self.withHarness { harness, fleet in
            let client = try harness.client()
            for body in [#"{"idempotency_key":"a","actions":[{"operation":"REBOOT"}]}"#,
                         #"{"idempotency_key":"b","actions":[{"operation":"START"}]}"#,
                         #"{"idempotency_key":"c","actions":[{"operation":"CREATE","vm_id":"abc"}]}"#,
                         #"{"idempotency_key":"d","actions":[{"operation":"STOP","vm_id":"\#(UUID().uuidString)"}]}"#] {
                let response = try await harness.send(client, .POST, "/sites/\(fleet.site.id)/plans", body: Array(body.utf8),
                                                      headers: [("Content-Type", "application/json"), ("X-API-Key", fleet.apiKey)])
                #expect(response.status == 400, "\(body): \(response.status) \(String(decoding: response.body, as: UTF8.self))")
            }
        }
    }

    @Test("defect 32: tenant and site validation answers 400, not 500")
    func defect32() async throws {
        try await Self.withHarness { harness, fleet in
            await #expect(throws: TestTransport.Failure.self) { try await fleet.admin.createTenant(CreateTenantRequest(slug: "x", name: "x", dataRetentionDays: 3)) }
            await #expect(throws: TestTransport.Failure.self) { try await fleet.admin.createTenant(CreateTenantRequest(slug: "Bad Slug!", name: "x")) }
            await #expect(throws: TestTransport.Failure.self) {
                try await fleet.tenantClient.createSite(CreateSiteRequest(tenantId: fleet.tenant.id, name: "s", locationCountryCode: "CHE"))
            }
            for status in [await ControlPlaneFlowTests.status { try await fleet.admin.createTenant(CreateTenantRequest(slug: "x", name: "x", dataRetentionDays: 3)) }] {
                #expect(status == 400)
            }
        }
    }

    @Test("defect 34: a bad CSR does not burn the enrollment token")
    func defect34() async throws {
        try await Self.withHarness { harness, fleet in
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

    @Test("defect 37: weak CSR keys are refused at enrollment")
    func defect37() async throws {
        try await Self.withHarness { harness, fleet in
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

    @Test("defect 38: a blank ADMIN_KEY means a generated key in a 0600 file, never open access")
    func defect38() throws {
        let directory = FileManager.default.temporaryDirectory.appending(path: "nkudo-admin-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let configuration = try ControlPlaneConfiguration.resolve(flags: [:], environment: ["ADMIN_KEY": "   ", "NKUDO_DATA_DIR": directory])
        #expect(configuration.adminKey == nil)
        let pki = try ControlPlanePKI.load(configuration: configuration, now: Date(), logger: Logger(label: "test"))
        #expect(pki.adminKey.count > 40)
        let path = try #require(pki.adminKeyPath)
        #expect((try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) == 0o600)
    }

    @Test("defect 41: a client presenting an expired certificate can still enroll (TLS accepts, the route decides)")
    func defect41() async throws {
        try await Self.withHarness { harness, fleet in
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

    @Test("defect 6: migrations apply once and a second run is a no-op")
    func defect6() async throws {
        var configuration = ControlPlaneConfiguration()
        configuration.dataDirectory = FileManager.default.temporaryDirectory.appending(path: "nkudo-migrate-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: configuration.dataDirectory) }
        let (store, _) = try ControlPlane.openStore(configuration, logger: Logger(label: "test"))
        let first = try await store.migrate()
        let second = try await store.migrate()
        await store.close()
        #expect(!first.isEmpty)
        #expect(second.isEmpty)
    }

    @Test("defect 21 and 27: ids are canonical lowercase UUIDs; VM memory defaults to 128 MiB in plans and heartbeats")
    func defect21And27() async throws {
        try await Self.withHarness { harness, fleet in
            let applied = try await fleet.tenantClient.applyPlan(ApplyPlanRequest(siteId: fleet.site.id, idempotencyKey: "ids",
                                                                                  actions: [.init(operation: .create, name: "m")]))
            for id in [applied.planId] + applied.executions.map(\.id) + applied.executions.compactMap(\.vmId) {
                #expect(id == UUID(uuidString: id)?.uuidString.lowercased(), "\(id)")
            }
            let vm = try #require(try await fleet.tenantClient.listMicroVMs(ListMicroVMsRequest(siteId: fleet.site.id)).vms.first)
            #expect(vm.memoryMib == 128)
            let reported = HeartbeatNormalizer.normalize(
                HeartbeatRequest(microvms: [.init(id: vm.id, state: "running")]), agentID: "a", now: Date())
            #expect(reported.microVMs.first?.memoryMiB == 128)
        }
    }

    @Test("defect 33: X-Request-ID is echoed, or generated when absent")
    func defect33() async throws {
        try await Self.withHarness { harness, _ in
            let client = try harness.client()
            let echoed = try await harness.send(client, .GET, "/healthz", headers: [("X-Request-ID", "req-42")])
            #expect(echoed.headers["X-Request-ID"].first == "req-42")
            let generated = try await harness.send(client, .GET, "/healthz")
            #expect(UUID(uuidString: generated.headers["X-Request-ID"].first ?? "") != nil)
        }
    }

    @Test("configuration: invalid values fail at start with the setting's name")
    func invalidConfiguration() {
        for (name, value) in [("PLAN_LEASE_TTL", "soon"), ("MAX_PENDING_PLANS", "-1"), ("CONTROL_PLANE_ADDR", "nowhere"),
                              ("REQUIRE_PERSISTENT_PKI", "maybe"), ("DATABASE_URL", "mysql://x")] {
            #expect(throws: ConfigurationError.self) { try ControlPlaneConfiguration.resolve(flags: [:], environment: [name: value]) }
        }
        #expect(throws: ConfigurationError.self) {
            try ControlPlaneConfiguration.resolve(flags: [:], environment: ["REQUIRE_PERSISTENT_PKI": "true"])
        }
        let parsed = try? ControlPlaneConfiguration.resolve(flags: ["PLAN_LEASE_TTL": "1m30s"], environment: ["PLAN_LEASE_TTL": "10"])
        #expect(parsed?.planLeaseTTL == .seconds(90))
    }
}
