import Foundation
import NKudoContract
import Testing

@testable import NKudoStore
import NKudoSQL
import SQLTestSupport

// Lifecycle, tenants, API keys, sites, audit and statistics.
extension StoreTests {
    @Test("migrate applies the schema once; checkSchema and ping pass afterwards", arguments: testedDialects)
    func migrateAndCheckSchema(dialect: SQLDialect) async throws {
        try await withTestDatabase(dialect) { _, database in
            let store = SQLStore(database: database, logger: silentLogger)
            let behind = await storeError { try await store.checkSchema() }
            #expect(behind?.code == .schemaBehind)
            #expect(try await store.migrate() == ["0001_init.sql", "0002_hot_heartbeats.sql", "0003_fencing_and_retirement.sql", "0004_plan_logs.sql", "0005_real_microvms.sql", "0006_console_sessions.sql"])
            #expect(try await store.migrate() == [])
            try await store.checkSchema()
            try await store.ping()
        }
    }

    @Test("close closes the database", arguments: testedDialects)
    func closeClosesTheDatabase(dialect: SQLDialect) async throws {
        try await withTestDatabase(dialect) { _, database in
            let store = SQLStore(database: database, logger: silentLogger)
            await store.close()
            #expect(await storeError { try await store.ping() } != nil)
        }
    }

    @Test("createTenant stores the tenant; a duplicate slug is .conflict", arguments: testedDialects)
    func createTenant(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let tenant = try await fixture.tenant(slug: "acme")
            #expect(tenant.slug == "acme")
            #expect(tenant.primaryRegion == "eu-central-1")
            #expect(tenant.dataRetentionDays == 30)
            #expect(tenant.createdAt == ProtoTimestamp(date: StoreFixture.t0))
            #expect(tenant.updatedAt == ProtoTimestamp(date: StoreFixture.t0))
            let duplicate = await storeError { try await fixture.tenant(slug: "acme") }
            #expect(duplicate?.code == .conflict)
        }
    }

    @Test("defect 32: a retention below 7 days is .invalid, not a database error", arguments: testedDialects)
    func retentionBelowMinimumIsInvalid(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let error = await storeError {
                try await fixture.store.createTenant(
                    NewTenant(id: StoreFixture.id(), slug: "short", name: "Short", primaryRegion: "eu", dataRetentionDays: 3, createdAt: StoreFixture.t0)
                )
            }
            #expect(error?.code == .invalid)
        }
    }

    @Test("API keys: valid until strictly before expiry; unknown tenant .notFound; duplicate hash .conflict", arguments: testedDialects)
    func apiKeys(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let tenant = try await fixture.tenant()
            let key = NewAPIKey(id: StoreFixture.id(), tenantID: tenant.id, name: "ci", keyHash: "key-hash", expiresAt: StoreFixture.at(60), createdAt: StoreFixture.t0)
            let created = try await fixture.store.createAPIKey(key)
            #expect(created == APIKeyRecord(id: key.id, tenantID: tenant.id, name: "ci", expiresAt: StoreFixture.at(60)))
            #expect(try await fixture.store.apiKey(hash: "key-hash", now: StoreFixture.at(59)) == created)
            #expect(try await fixture.store.apiKey(hash: "key-hash", now: StoreFixture.at(60)) == nil)
            #expect(try await fixture.store.apiKey(hash: "other", now: StoreFixture.t0) == nil)

            let forever = NewAPIKey(id: StoreFixture.id(), tenantID: tenant.id, name: "forever", keyHash: "forever-hash", expiresAt: nil, createdAt: StoreFixture.t0)
            _ = try await fixture.store.createAPIKey(forever)
            #expect(try await fixture.store.apiKey(hash: "forever-hash", now: StoreFixture.at(1e9))?.id == forever.id)

            var orphan = key
            orphan.id = StoreFixture.id()
            orphan.tenantID = StoreFixture.id()
            orphan.keyHash = "orphan"
            #expect(await storeError { try await fixture.store.createAPIKey(orphan) }?.code == .notFound)
            var duplicate = key
            duplicate.id = StoreFixture.id()
            #expect(await storeError { try await fixture.store.createAPIKey(duplicate) }?.code == .conflict)
        }
    }

    @Test("defect 40: validating an API key writes nothing", arguments: testedDialects)
    func apiKeyValidationIsReadOnly(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let tenant = try await fixture.tenant()
            let key = NewAPIKey(id: StoreFixture.id(), tenantID: tenant.id, name: "ci", keyHash: "read-only", expiresAt: nil, createdAt: StoreFixture.t0)
            _ = try await fixture.store.createAPIKey(key)
            let before = try await fixture.rows("SELECT * FROM api_keys")
            for _ in 0..<3 {
                #expect(try await fixture.store.apiKey(hash: "read-only", now: StoreFixture.at(10)) != nil)
            }
            let after = try await fixture.rows("SELECT * FROM api_keys")
            #expect(before.map(\.values) == after.map(\.values))
        }
    }

    @Test("sites: OFFLINE on creation, newest first, scoped by tenant, unique name and external key", arguments: testedDialects)
    func sites(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let tenant = try await fixture.tenant()
            let other = try await fixture.tenant()
            let first = try await fixture.site(tenantID: tenant.id, name: "berlin", createdAt: StoreFixture.t0)
            let second = try await fixture.store.createSite(
                NewSite(id: StoreFixture.id(), tenantID: tenant.id, name: "paris", externalKey: "ext-1", locationCountryCode: "FR", createdAt: StoreFixture.at(1))
            )
            #expect(first.connectivityState == .offline)
            #expect(first.lastHeartbeatAt == nil)
            #expect(first.externalKey == nil && first.locationCountryCode == nil)
            #expect(second.externalKey == "ext-1" && second.locationCountryCode == "FR")
            #expect(try await fixture.store.listSites(tenantID: tenant.id).map(\.id) == [second.id, first.id])
            #expect(try await fixture.store.listSites(tenantID: other.id).isEmpty)
            #expect(try await fixture.store.site(id: first.id, tenantID: tenant.id) == first)
            #expect(try await fixture.store.site(id: first.id, tenantID: other.id) == nil)

            let sameName = await storeError { try await fixture.site(tenantID: tenant.id, name: "berlin") }
            #expect(sameName?.code == .conflict)
            let sameKey = await storeError {
                try await fixture.store.createSite(
                    NewSite(id: StoreFixture.id(), tenantID: tenant.id, name: "lyon", externalKey: "ext-1", locationCountryCode: nil, createdAt: StoreFixture.t0)
                )
            }
            #expect(sameKey?.code == .conflict)
            _ = try await fixture.site(tenantID: other.id, name: "berlin")
            let noTenant = await storeError { try await fixture.site(tenantID: StoreFixture.id()) }
            #expect(noTenant?.code == .notFound)
        }
    }

    @Test("defect 9: malformed or unknown ids are nil or .notFound, never database errors", arguments: testedDialects)
    func malformedIDs(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let tenant = try await fixture.tenant()
            #expect(try await fixture.store.site(id: "not-a-uuid", tenantID: tenant.id) == nil)
            #expect(try await fixture.store.agent(id: "x") == nil)
            #expect(try await fixture.store.execution(id: "x", tenantID: tenant.id) == nil)
            #expect(try await fixture.store.listHosts(tenantID: tenant.id, siteID: "x").isEmpty)
            #expect(await storeError { try await fixture.store.listExecutionLogs(tenantID: tenant.id, executionID: "x", limit: 10, cursor: nil) }?.code == .notFound)
            #expect(await storeError { try await fixture.store.leasePlans(agentID: "x", lease: StoreFixture.lease, now: StoreFixture.t0) }?.code == .notFound)
            #expect(await storeError { try await fixture.store.ingestHeartbeat(fixture.heartbeat("x"), lease: StoreFixture.lease, now: StoreFixture.t0) }?.code == .notFound)
            #expect(await storeError { try await fixture.store.ingestLogs(agentID: "x", entries: [], now: StoreFixture.t0) }?.code == .notFound)
            let world = try await fixture.world()
            let unknownPlan = ResultReport(agentID: world.agent.agentID, planID: "not-a-plan", results: [])
            #expect(await storeError { try await fixture.store.reportResults(unknownPlan, now: StoreFixture.t0) }?.code == .notFound)
        }
    }

    @Test("defect 7: audit events keep textual actor ids, events without a tenant, and their metadata", arguments: testedDialects)
    func recordAudit(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let tenant = try await fixture.tenant()
            try await fixture.store.recordAudit(
                NewAuditEvent(
                    tenantID: tenant.id, siteID: nil, actorType: .user, actorID: "api-key", action: "site.create", resourceType: "site",
                    resourceID: "s1", requestID: "r1", sourceIP: "192.0.2.1", metadata: AuditMetadata(agentID: "a/1", releasedPlans: 2), occurredAt: StoreFixture.t0
                )
            )
            try await fixture.store.recordAudit(
                NewAuditEvent(
                    tenantID: nil, siteID: nil, actorType: .system, actorID: nil, action: "auth.failure", resourceType: "admin",
                    resourceID: "", requestID: nil, sourceIP: nil, occurredAt: StoreFixture.at(1)
                )
            )
            let rows = try await fixture.rows("SELECT tenant_id, actor_type, actor_id, action, metadata_json, occurred_at FROM audit_events ORDER BY id")
            #expect(rows.count == 2)
            #expect(try rows[0].text("actor_id") == "api-key")
            #expect(try rows[0].text("metadata_json") == #"{"agent_id":"a/1","released_plans":2}"#)
            #expect(try rows[0].date("occurred_at") == StoreFixture.t0)
            #expect(rows[1]["tenant_id"] == .null)
            #expect(try rows[1].text("action") == "auth.failure")
            #expect(try rows[1].text("metadata_json") == "{}")
        }
    }

    @Test("statistics count plans by status and agents by state, zeros included", arguments: testedDialects)
    func statistics(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let empty = try await fixture.store.statistics()
            #expect(empty.plansByStatus == ["PENDING": 0, "IN_PROGRESS": 0, "SUCCEEDED": 0, "FAILED": 0, "CANCELLED": 0])
            #expect(empty.agentsByState == ["ONLINE": 0, "DEGRADED": 0, "OFFLINE": 0])

            let world = try await fixture.world()
            _ = try await fixture.agent(tenantID: world.tenantID, siteID: world.siteID)
            let first = try await fixture.apply(world, [StoreFixture.action(.create, vm: StoreFixture.id())])
            _ = try await fixture.apply(world, [StoreFixture.action(.create, vm: StoreFixture.id())])
            _ = try await fixture.store.leasePlans(agentID: world.agent.agentID, lease: LeaseOptions(limit: 1, ttl: 30), now: StoreFixture.t0)
            _ = try await fixture.store.sweepOffline(cutoff: StoreFixture.at(10), now: StoreFixture.at(10))
            var heartbeat = fixture.heartbeat(world.agent.agentID)
            heartbeat.heldLeases = [HeartbeatIngest.HeldLeaseClaim(planID: first.planID, leaseToken: 1)]
            _ = try await fixture.store.ingestHeartbeat(heartbeat, lease: LeaseOptions(limit: 0, ttl: 30), now: StoreFixture.at(11))
            let stats = try await fixture.store.statistics()
            #expect(stats.plansByStatus["PENDING"] == 0)
            #expect(stats.plansByStatus["IN_PROGRESS"] == 2)
            #expect(stats.agentsByState == ["ONLINE": 1, "DEGRADED": 0, "OFFLINE": 1])
        }
    }
}
