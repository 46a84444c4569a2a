import Foundation
import HTTPTypes
import NKudoContract
import NKudoPKI
import NKudoStore
import NKudoSQL

/// `nkudo.v1.AdminService`: tenants and their API keys (admin key only).
struct AdminServiceImplementation: AdminServiceHandler {
    let environment: ServiceEnvironment

    func createTenant(_ request: CreateTenantRequest, context: CallContext) async throws -> Tenant {
        guard !request.slug.isEmpty, !request.name.isBlank else {
            throw APIError.badRequest("slug and name are required")
        }
        guard request.slug.count <= 63, request.slug.utf8.allSatisfy({ ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 }),
              request.slug.first != "-", request.slug.last != "-" else {
            throw APIError.badRequest("slug must be 1-63 lowercase letters, digits or '-', not starting or ending with '-'")
        }
        let retention = request.dataRetentionDays == 0 ? 30 : request.dataRetentionDays
        guard retention >= 7 else {
            throw APIError.badRequest("data_retention_days must be at least 7")
        }
        let tenant = NewTenant(id: SecureRandom.uuid(), slug: request.slug, name: request.name,
                               primaryRegion: request.primaryRegion.isBlank ? "eu-central-1" : request.primaryRegion,
                               dataRetentionDays: retention, createdAt: environment.now())
        let created = try await environment.store.createTenant(tenant)
        await environment.audit(context, tenantID: created.id, action: "tenant.create", resourceType: "tenant", resourceID: created.id)
        return created
    }

    func createAPIKey(_ request: CreateAPIKeyRequest, context: CallContext) async throws -> CreateAPIKeyResponse {
        let tenantID = try Identifiers.require(request.tenantId, orThrow: .badRequest("invalid tenant id"))
        guard request.expiresInSeconds >= 0 else {
            throw APIError.badRequest("expires_in_seconds must not be negative")
        }
        let now = environment.now()
        let secret = "nk_" + SecureRandom.token()
        let key = NewAPIKey(id: SecureRandom.uuid(), tenantID: tenantID, name: request.name.isBlank ? "default" : request.name,
                            keyHash: Digest.sha256Hex(secret),
                            expiresAt: request.expiresInSeconds > 0 ? now.addingTimeInterval(Double(request.expiresInSeconds)) : nil,
                            createdAt: now)
        let record = try await environment.store.createAPIKey(key)
        await environment.audit(context, tenantID: tenantID, action: "apikey.create", resourceType: "api_key", resourceID: record.id)
        return CreateAPIKeyResponse(id: record.id, tenantId: record.tenantID, name: record.name, apiKey: secret,
                                    expiresAt: record.expiresAt?.protoTimestamp)
    }

    func listTenants(_ request: ListTenantsRequest, context: CallContext) async throws -> ListTenantsResponse {
        ListTenantsResponse(tenants: try await environment.store.listTenants())
    }

    func listAPIKeys(_ request: ListAPIKeysRequest, context: CallContext) async throws -> ListAPIKeysResponse {
        let tenantID = try Identifiers.require(request.tenantId, orThrow: .notFound("tenant not found"))
        return ListAPIKeysResponse(apiKeys: try await environment.store.listAPIKeys(tenantID: tenantID))
    }

    /// Authentication reads the key from the store on every request (no cache), so the
    /// revoked key is refused from the next request on.
    func revokeAPIKey(_ request: RevokeAPIKeyRequest, context: CallContext) async throws -> APIKey {
        let notFound = APIError.notFound("api key not found")
        let tenantID = try Identifiers.require(request.tenantId, orThrow: notFound)
        let keyID = try Identifiers.require(request.apiKeyId, orThrow: notFound)
        let revocation = try await environment.store.revokeAPIKey(tenantID: tenantID, id: keyID, now: environment.now())
        if revocation.revokedNow {
            await environment.audit(context, tenantID: tenantID, action: "api_key.revoke", resourceType: "api_key", resourceID: keyID)
        }
        return revocation.key
    }
}
