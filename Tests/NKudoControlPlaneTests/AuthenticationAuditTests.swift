import ControlPlaneTestSupport
import Foundation
import NKudoContract
@testable import NKudoControlPlane
import NKudoPKI
import NKudoSQL
import Testing

/// Every 401 goes through one path (the responder): the authenticator's, the store's
/// (an enrollment token, a heartbeat's serial, a renewal) and on both REST and Connect
/// paths — each is answered with its reason and audited once as `auth.failure`, by RPC,
/// with the tenant when the credentials reveal it.
@Suite("Authentication failures, audited in one place")
struct AuthenticationAuditTests {
    struct Event: Equatable, CustomStringConvertible {
        let rpc: String
        let reason: String
        let tenantID: String?
        var description: String { "\(rpc) \(reason) tenant=\(tenantID ?? "-")" }
    }

    static func events(_ harness: ControlPlaneHarness) async throws -> [Event] {
        try await harness.store.rows("SELECT resource_id, tenant_id, metadata_json FROM audit_events WHERE action = 'auth.failure' ORDER BY id")
            .map { row in
                let metadata = try JSONDecoder().decode(AuditMetadataProbe.self, from: Data(try row.text("metadata_json").utf8))
                return Event(rpc: try row.text("resource_id"), reason: metadata.reason, tenantID: row["tenant_id"] == .null ? nil : try row.text("tenant_id"))
            }
    }

    struct AuditMetadataProbe: Decodable {
        let reason: String
        let count: Int
    }

    @Test("bad enrollment token, wrong API key (REST and Connect), retired agent's heartbeat and renewal: one event each, right RPC, reason and tenant")
    func everyFailureAudited() async throws {
        try await ControlPlaneHarness.withFleet(.sqlite) { harness, fleet in
            let agent = try await fleet.enrollAgent(hostname: "audited")
            let anonymous = AgentServiceClient(transport: TestTransport(harness: harness, client: try harness.client()))
            let csr = try CertificateSigningRequest.create(key: try PrivateKey.generateP256(), commonName: "x").pem()
            let enroll = await SafetyTests.failure {
                _ = try await anonymous.enroll(EnrollRequest(enrollmentToken: "not-a-token", requestedHostname: "h", csrPem: csr))
            }
            #expect(enroll?.status == 401)
            #expect(enroll?.body.contains("invalid or expired enrollment token") == true)

            let wrongKey = TenantServiceClient(transport: TestTransport(harness: harness, client: try harness.client(), headers: [("X-API-Key", "nk_wrong")]))
            #expect(await SafetyTests.failure { _ = try await wrongKey.listSites(ListSitesRequest(tenantId: fleet.tenant.id)) }?.status == 401)
            let wrongKeyConnect = TenantServiceClient(transport: TestTransport(harness: harness, client: try harness.client(), connect: true,
                                                                               headers: [("X-API-Key", "nk_wrong")]))
            #expect(await SafetyTests.failure { _ = try await wrongKeyConnect.listSites(ListSitesRequest(tenantId: fleet.tenant.id)) }?.status == 401)

            _ = try await fleet.tenantClient.retireHost(RetireHostRequest(siteId: fleet.site.id, hostId: agent.response.hostId))
            let heartbeat = await SafetyTests.failure { _ = try await agent.client.heartbeat(HeartbeatRequest()) }
            #expect(heartbeat?.status == 401)
            #expect(heartbeat?.body.contains("agent retired") == true)
            let renewal = await SafetyTests.failure {
                _ = try await agent.client.renewCertificate(RenewCertificateRequest(csrPem: csr))
            }
            #expect(renewal?.status == 401)

            let events = try await Self.events(harness)
            #expect(events == [
                Event(rpc: "nkudo.v1.AgentService/Enroll", reason: "invalid or expired enrollment token", tenantID: nil),
                Event(rpc: "nkudo.v1.TenantService/ListSites", reason: "invalid api key", tenantID: nil),
                Event(rpc: "nkudo.v1.AgentService/Heartbeat", reason: "agent retired", tenantID: nil),
                Event(rpc: "nkudo.v1.AgentService/RenewCertificate", reason: "agent retired", tenantID: fleet.tenant.id),
            ], "the Connect failure is the REST one's repeat: counted in its event")
        }
    }
}
