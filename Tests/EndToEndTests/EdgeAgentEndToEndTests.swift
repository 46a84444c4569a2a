import ControlPlaneTestSupport
import Foundation
import Logging
import NIOHTTP1
import NKudoContract
import NKudoControlPlane
import NKudoEdge
import NKudoEdgeGRPC
import NKudoPKI
import NKudoStore
import Testing

/// The edge agent's production client code against a real control plane: enrollment
/// with CA pinning, binary and JSON calls over mTLS, renewal before and after expiry.
@Suite("Edge agent against the control plane", .serialized)
struct EdgeAgentEndToEndTests {
    static func pkiDirectory() -> String {
        FileManager.default.temporaryDirectory.appending(path: "nkudo-edge-pki-\(UUID().uuidString)").path
    }

    /// Runs `body` with a fresh control plane and the path of a PKI directory; stops the one
    /// and removes the other afterwards, whatever `body` does.
    static func withControlPlane(_ tweak: (inout ControlPlaneConfiguration) -> Void = { _ in },
                                 _ body: (ControlPlaneHarness, _ pkiDirectory: String) async throws -> Void) async throws {
        let harness = try await ControlPlaneHarness(tweak: tweak)
        let directory = pkiDirectory()
        do {
            try await body(harness, directory)
        } catch {
            try? FileManager.default.removeItem(atPath: directory)
            await harness.shutdown()
            throw error
        }
        try? FileManager.default.removeItem(atPath: directory)
        await harness.shutdown()
    }

    @Test("enroll pinning the CA fingerprint, then heartbeat in binary and JSON", arguments: [WireFormat.binary, .json])
    func enrollAndHeartbeat(format: WireFormat) async throws {
        try await Self.withControlPlane { harness, directory in
            let fleet = try await Fleet.create(harness)
            let token = try await fleet.tenantClient.issueEnrollmentToken(IssueEnrollmentTokenRequest(tenantId: fleet.tenant.id, siteId: fleet.site.id))
            let store = IdentityStore(directory: directory)
            let enroller = Enroller(store: store, logger: Logger(label: "test.edge"))
            let identity = try await enroller.enroll(Enroller.Request(
                controlPlaneURL: harness.baseURL + "/", token: token.token, hostname: "edge-e2e",
                trust: .pinnedCAFingerprint("sha256:" + token.caFingerprintSha256), format: format, agentVersion: "test"))
            #expect(identity.siteID == fleet.site.id)
            #expect(try store.load() == identity)
            let keyMode = try FileManager.default.attributesOfItem(atPath: directory + "/client.key")[.posixPermissions] as? Int
            #expect(keyMode == 0o600)
            await #expect(throws: IdentityError.self) {
                try await enroller.enroll(Enroller.Request(controlPlaneURL: harness.baseURL, token: token.token, hostname: "again",
                                                           trust: .pinnedCAFingerprint(token.caFingerprintSha256), agentVersion: "test"))
            }
            let transport = try ControlPlaneTransport(baseURL: identity.controlPlaneURL, format: format,
                                                      trust: .certificateAuthority(pem: identity.caCertificatePEM),
                                                      clientIdentity: (identity.certificatePEM, identity.privateKeyPEM))
            let response = try await AgentServiceClient(transport: transport).heartbeat(HeartbeatRequest(heartbeatSeq: 1, cpuCoresTotal: 4))
            #expect(response.nextHeartbeatSeconds == 15)
        }
    }

    @Test("the agent API over REST, Connect and gRPC: the same answers, the same refusals", arguments: ControlPlaneProtocol.allCases)
    func transports(transport: ControlPlaneProtocol) async throws {
        try await AgentRig.with(transport: transport) { harness, _, rig in
            let identity = try #require(try rig.identityStore.load())
            let trust = ServerTrust.certificateAuthority(pem: identity.caCertificatePEM)
            let agent = AgentServiceClient(transport: try ControlPlaneTransport(
                baseURL: identity.controlPlaneURL, format: .binary, trust: trust,
                clientIdentity: (identity.certificatePEM, identity.privateKeyPEM), protocol: transport, grpc: EdgeGRPC.transportFactory))
            let response = try await agent.heartbeat(HeartbeatRequest(agentId: identity.agentID, heartbeatSeq: 1, cpuCoresTotal: 4))
            #expect(response.nextHeartbeatSeconds == 15)
            #expect(try await agent.nextPlans(NextPlansRequest()).plans.isEmpty)
            // No client certificate: 401 whatever the protocol.
            let anonymous = AgentServiceClient(transport: try ControlPlaneTransport(
                baseURL: identity.controlPlaneURL, format: .binary, trust: trust, clientIdentity: nil, protocol: transport, grpc: EdgeGRPC.transportFactory))
            do {
                _ = try await anonymous.heartbeat(HeartbeatRequest(heartbeatSeq: 2))
                Issue.record("a heartbeat without a client certificate was accepted")
            } catch let failure as ControlPlaneTransport.Failure {
                #expect(failure.status == 401, "\(failure)")
                #expect(failure.message == "missing client certificate")
            }
            // A control plane that is not there: status 0 (not reached), so the agent fails over.
            let nowhere = AgentServiceClient(transport: try ControlPlaneTransport(
                baseURL: "https://127.0.0.1:9", format: .binary, trust: trust,
                clientIdentity: (identity.certificatePEM, identity.privateKeyPEM), timeout: .seconds(3), protocol: transport,
                grpc: EdgeGRPC.transportFactory))
            do {
                _ = try await nowhere.heartbeat(HeartbeatRequest(heartbeatSeq: 3))
                Issue.record("a heartbeat to a closed port succeeded")
            } catch let failure as ControlPlaneTransport.Failure {
                #expect(failure.status == 0, "\(failure)")
            }
            _ = harness
        }
    }

    @Test("a wrong pinned fingerprint never sends the token")
    func wrongPin() async throws {
        try await Self.withControlPlane { harness, directory in
            let fleet = try await Fleet.create(harness)
            let token = try await fleet.tenantClient.issueEnrollmentToken(IssueEnrollmentTokenRequest(tenantId: fleet.tenant.id, siteId: fleet.site.id))
            let enroller = Enroller(store: IdentityStore(directory: directory), logger: Logger(label: "test.edge"))
            await #expect(throws: ServerTrustError.self) {
                try await enroller.enroll(Enroller.Request(controlPlaneURL: harness.baseURL, token: token.token, hostname: "h",
                                                           trust: .pinnedCAFingerprint(String(repeating: "0", count: 64)), agentVersion: "test"))
            }
            let anonymous = AgentServiceClient(transport: TestTransport(harness: harness, client: try harness.client()))
            let csr = try CertificateSigningRequest.create(key: try PrivateKey.generateP256(), commonName: "h").pem()
            let enrolled = try await anonymous.enroll(EnrollRequest(enrollmentToken: token.token, requestedHostname: "h", csrPem: csr))
            #expect(!enrolled.agentId.isEmpty, "the token must still be unused")
        }
    }

    @Test("a PKI directory that cannot be written fails before the token is spent; a host name past the CN's 64 characters enrolls")
    func unwritableDirectoryAndLongHostname() async throws {
        try await Self.withControlPlane { harness, directory in
            let fleet = try await Fleet.create(harness)
            let token = try await fleet.tenantClient.issueEnrollmentToken(IssueEnrollmentTokenRequest(tenantId: fleet.tenant.id, siteId: fleet.site.id))
            try #require(FileManager.default.createFile(atPath: directory, contents: Data("a file\n".utf8)))
            let trust = ServerTrust.certificateAuthority(pem: harness.pki.caCertificatePEM)
            let longName = (0..<9).map { "edgehost0\($0)" }.joined(separator: ".") + ".example.com"
            #expect(longName.utf8.count > 64)
            await #expect(throws: (any Error).self) {
                try await Enroller(store: IdentityStore(directory: directory + "/pki"), logger: Logger(label: "test.edge")).enroll(Enroller.Request(
                    controlPlaneURL: harness.baseURL, token: token.token, hostname: "short", trust: trust, agentVersion: "test"))
            }
            try FileManager.default.removeItem(atPath: directory)
            // The token is still unused, and the long host name enrolls with it.
            let identity = try await Enroller(store: IdentityStore(directory: directory), logger: Logger(label: "test.edge")).enroll(Enroller.Request(
                controlPlaneURL: harness.baseURL, token: token.token, hostname: longName, trust: trust, agentVersion: "test"))
            let hosts = try await fleet.tenantClient.listHosts(ListHostsRequest(siteId: fleet.site.id)).hosts
            #expect(hosts.contains { $0.id == identity.hostID && $0.hostname == longName })
        }
    }

    @Test("renewal before expiry with the certificate and after expiry with the refresh token")
    func renewal() async throws {
        try await Self.withControlPlane({ $0.agentCertificateTTL = .seconds(6) }) { harness, directory in
            let fleet = try await Fleet.create(harness)
            let token = try await fleet.tenantClient.issueEnrollmentToken(IssueEnrollmentTokenRequest(tenantId: fleet.tenant.id, siteId: fleet.site.id))
            let store = IdentityStore(directory: directory)
            let identity = try await Enroller(store: store, logger: Logger(label: "test.edge")).enroll(Enroller.Request(
                controlPlaneURL: harness.baseURL, token: token.token, hostname: "renew", trust: .certificateAuthority(pem: harness.pki.caCertificatePEM),
                agentVersion: "test"))
            let due = CertificateRenewer.renewalDate(for: identity, random: 0)
            #expect(abs(due.timeIntervalSince(identity.certificateNotBefore) - (identity.certificateExpiresAt.timeIntervalSince(identity.certificateNotBefore) * 2 / 3)) < 1)
            let renewer = CertificateRenewer(store: store, format: .binary, logger: Logger(label: "test.edge"))
            let early = try await renewer.renew(identity)
            #expect(early.certificatePEM != identity.certificatePEM)
            #expect(early.refreshToken != identity.refreshToken)
            try await Task.sleep(for: .seconds(7))
            let late = try await renewer.renew(early)
            #expect(late.certificateExpiresAt > Date())
            let transport = try ControlPlaneTransport(baseURL: late.controlPlaneURL, format: .binary,
                                                      trust: .certificateAuthority(pem: late.caCertificatePEM),
                                                      clientIdentity: (late.certificatePEM, late.privateKeyPEM))
            _ = try await AgentServiceClient(transport: transport).heartbeat(HeartbeatRequest())
            let stale = try ControlPlaneTransport(baseURL: early.controlPlaneURL, format: .binary,
                                                  trust: .certificateAuthority(pem: early.caCertificatePEM),
                                                  clientIdentity: (early.certificatePEM, early.privateKeyPEM))
            await #expect(throws: ControlPlaneTransport.Failure.self) {
                _ = try await AgentServiceClient(transport: stale).heartbeat(HeartbeatRequest())
            }
        }
    }
}
