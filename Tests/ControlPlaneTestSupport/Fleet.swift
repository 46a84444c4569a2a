import AsyncHTTPClient
public import Foundation  // UUID in a default argument
import NIOHTTP1
import NKudoStore
public import NKudoContract
import NKudoControlPlane
import NKudoPKI

/// A tenant with an API key and a site, and enrolled agents, created through the API.
public struct Fleet: Sendable {
    public let harness: ControlPlaneHarness
    public let format: WireFormat
    public let tenant: Tenant
    public let apiKey: String
    public let site: Site

    public var admin: AdminServiceClient<TestTransport> {
        get throws { AdminServiceClient(transport: TestTransport(harness: harness, client: try harness.client(), format: format,
                                                                  headers: [("X-Admin-Key", harness.configuration.adminKey!)])) }
    }

    public var tenantClient: TenantServiceClient<TestTransport> {
        get throws { TenantServiceClient(transport: TestTransport(harness: harness, client: try harness.client(), format: format,
                                                                   headers: [("X-API-Key", apiKey)])) }
    }

    public static func create(_ harness: ControlPlaneHarness, format: WireFormat = .json, slug: String = "acme") async throws -> Fleet {
        let admin = AdminServiceClient(transport: TestTransport(harness: harness, client: try harness.client(), format: format,
                                                                headers: [("X-Admin-Key", harness.configuration.adminKey!)]))
        let tenant = try await admin.createTenant(CreateTenantRequest(slug: slug + "-" + String(UUID().uuidString.prefix(8)).lowercased(), name: "Acme Édge"))
        let key = try await admin.createAPIKey(CreateAPIKeyRequest(tenantId: tenant.id, name: "ci"))
        let tenantClient = TenantServiceClient(transport: TestTransport(harness: harness, client: try harness.client(), format: format,
                                                                        headers: [("X-API-Key", key.apiKey)]))
        let site = try await tenantClient.createSite(CreateSiteRequest(tenantId: tenant.id, name: "zrh-1", locationCountryCode: "ch"))
        return Fleet(harness: harness, format: format, tenant: tenant, apiKey: key.apiKey, site: site)
    }

    /// Issues a token and enrolls a new agent with a fresh EC key.
    public func enrollAgent(hostname: String = "edge-\(UUID().uuidString.prefix(6))") async throws -> EnrolledAgent {
        let token = try await tenantClient.issueEnrollmentToken(IssueEnrollmentTokenRequest(tenantId: tenant.id, siteId: site.id))
        let key = try PrivateKey.generateP256()
        let csr = try CertificateSigningRequest.create(key: key, commonName: "pending-agent")
        let anonymous = AgentServiceClient(transport: TestTransport(harness: harness, client: try harness.client(), format: format))
        let response = try await anonymous.enroll(EnrollRequest(enrollmentToken: token.token, agentVersion: "test", requestedHostname: hostname,
                                                                csrPem: try csr.pem()))
        return EnrolledAgent(fleet: self, response: response, keyPEM: try key.pkcs8PEM(), caFingerprint: token.caFingerprintSha256)
    }
}

/// An enrolled agent and its mTLS client.
public struct EnrolledAgent: Sendable {
    public let fleet: Fleet
    public let response: EnrollResponse
    public let keyPEM: String
    public let caFingerprint: String

    public var id: String { response.agentId }

    public var client: AgentServiceClient<TestTransport> {
        get throws {
            AgentServiceClient(transport: TestTransport(
                harness: fleet.harness,
                client: try fleet.harness.client(certificatePEM: response.clientCertificatePem, keyPEM: keyPEM),
                format: fleet.format))
        }
    }
}
