public import NKudoSQL
public import Foundation
import Logging
public import NKudoContract

// Tenants, API keys and sites.
extension SQLStore {
    public func createTenant(_ tenant: NewTenant) async throws(StoreError) -> Tenant {
        let created = try await database.withTransaction { connection throws(StoreError) -> Tenant in
            let rows = try connection.query(
                SQLStatement(
                    raw: """
                        INSERT INTO tenants (id, slug, name, primary_region, data_retention_days, created_at, updated_at)
                        VALUES ($1, $2, $3, $4, $5, $6, $7)
                        ON CONFLICT DO NOTHING
                        RETURNING \(StoreColumns.tenant)
                        """,
                    [
                        .text(tenant.id), .text(tenant.slug), .text(tenant.name), .text(tenant.primaryRegion),
                        .int(Int64(tenant.dataRetentionDays)), .timestamp(tenant.createdAt), .timestamp(tenant.createdAt),
                    ]
                )
            )
            guard let row = rows.first else {
                throw StoreError(.conflict, "tenant slug already exists")
            }
            return try Tenant(row: row)
        }
        logger.info("tenant created", metadata: [StoreLogKey.tenantID: "\(created.id)"])
        return created
    }

    public func createAPIKey(_ key: NewAPIKey) async throws(StoreError) -> APIKeyRecord {
        let created = try await database.withTransaction { connection throws(StoreError) -> APIKeyRecord in
            try Self.requireTenant(key.tenantID, on: connection)
            let rows = try connection.query(
                SQLStatement(
                    raw: """
                        INSERT INTO api_keys (id, tenant_id, name, key_hash, expires_at, created_at)
                        VALUES ($1, $2, $3, $4, $5, $6)
                        ON CONFLICT DO NOTHING
                        RETURNING \(StoreColumns.apiKey)
                        """,
                    [.text(key.id), .text(key.tenantID), .text(key.name), .text(key.keyHash), .timestamp(key.expiresAt), .timestamp(key.createdAt)]
                )
            )
            guard let row = rows.first else {
                throw StoreError(.conflict, "an API key with this id or hash already exists")
            }
            return try APIKeyRecord(row: row)
        }
        logger.info("API key created", metadata: [StoreLogKey.tenantID: "\(created.tenantID)"])
        return created
    }

    public func apiKey(hash: String, now: Date) async throws(StoreError) -> APIKeyRecord? {
        try await database.withConnection { connection throws(StoreError) in
            let rows = try connection.query(
                SQLStatement(
                    raw: """
                        SELECT \(StoreColumns.apiKey) FROM api_keys
                        WHERE key_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)
                        """,
                    [.text(hash), .timestamp(now)]
                )
            )
            return try rows.first.map(APIKeyRecord.init(row:))
        }
    }

    public func listTenants() async throws(StoreError) -> [Tenant] {
        try await database.withConnection { connection throws(StoreError) in
            try connection.query(
                SQLStatement(raw: "SELECT \(StoreColumns.tenant) FROM tenants ORDER BY created_at DESC, id DESC")
            ).map { row throws(StoreError) in try Tenant(row: row) }
        }
    }

    public func listAPIKeys(tenantID: String) async throws(StoreError) -> [APIKey] {
        try await database.withConnection { connection throws(StoreError) in
            try Self.requireTenant(tenantID, on: connection)
            return try connection.query(
                SQLStatement(
                    raw: "SELECT \(StoreColumns.apiKeyListing) FROM api_keys WHERE tenant_id = $1 ORDER BY created_at DESC, id DESC",
                    [.text(tenantID)]
                )
            ).map { row throws(StoreError) in try APIKey(row: row) }
        }
    }

    /// Sets `revoked_at` only where it is not set yet, so the first revocation's time stays.
    public func revokeAPIKey(tenantID: String, id: String, now: Date) async throws(StoreError) -> APIKeyRevocation {
        let revocation = try await database.withTransaction { connection throws(StoreError) -> APIKeyRevocation in
            let revoked = try connection.query(
                SQLStatement(
                    raw: "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND tenant_id = $3 AND revoked_at IS NULL RETURNING id",
                    [.timestamp(now), .text(id), .text(tenantID)]
                )
            )
            let rows = try connection.query(
                SQLStatement(
                    raw: "SELECT \(StoreColumns.apiKeyListing) FROM api_keys WHERE id = $1 AND tenant_id = $2",
                    [.text(id), .text(tenantID)]
                )
            )
            guard let row = rows.first else { throw StoreError(.notFound, "api key not found") }
            return APIKeyRevocation(key: try APIKey(row: row), revokedNow: !revoked.isEmpty)
        }
        if revocation.revokedNow {
            logger.info("API key revoked", metadata: [StoreLogKey.tenantID: "\(tenantID)"])
        }
        return revocation
    }

    public func createSite(_ site: NewSite) async throws(StoreError) -> Site {
        let created = try await database.withTransaction { connection throws(StoreError) -> Site in
            try Self.requireTenant(site.tenantID, on: connection)
            let rows = try connection.query(
                SQLStatement(
                    raw: """
                        INSERT INTO sites (id, tenant_id, name, external_key, location_country_code, connectivity_state,
                                           created_at, updated_at)
                        VALUES ($1, $2, $3, $4, $5, 'OFFLINE', $6, $7)
                        ON CONFLICT DO NOTHING
                        RETURNING \(StoreColumns.site)
                        """,
                    [
                        .text(site.id), .text(site.tenantID), .text(site.name), .nonBlank(site.externalKey),
                        .nonBlank(site.locationCountryCode), .timestamp(site.createdAt), .timestamp(site.createdAt),
                    ]
                )
            )
            guard let row = rows.first else {
                throw StoreError(.conflict, "site already exists", underlying: "a site with this name or external key exists in the tenant")
            }
            return try Site(row: row)
        }
        logger.info("site created", metadata: [StoreLogKey.tenantID: "\(created.tenantId)", StoreLogKey.siteID: "\(created.id)"])
        return created
    }

    public func listSites(tenantID: String) async throws(StoreError) -> [Site] {
        try await database.withConnection { connection throws(StoreError) in
            try connection.query(
                SQLStatement(
                    raw: "SELECT \(StoreColumns.site) FROM sites WHERE tenant_id = $1 ORDER BY created_at DESC, id DESC",
                    [.text(tenantID)]
                )
            ).map { row throws(StoreError) in try Site(row: row) }
        }
    }

    public func site(id: String, tenantID: String) async throws(StoreError) -> Site? {
        try await database.withConnection { connection throws(StoreError) in
            try connection.query(
                SQLStatement(raw: "SELECT \(StoreColumns.site) FROM sites WHERE id = $1 AND tenant_id = $2", [.text(id), .text(tenantID)])
            ).first.map(Site.init(row:))
        }
    }

    /// `.notFound` unless the tenant exists.
    static func requireTenant(_ tenantID: String, on connection: any SQLConnection) throws(StoreError) {
        let rows = try connection.query(SQLStatement(raw: "SELECT id FROM tenants WHERE id = $1", [.text(tenantID)]))
        guard !rows.isEmpty else { throw StoreError(.notFound, "tenant not found") }
    }
}
