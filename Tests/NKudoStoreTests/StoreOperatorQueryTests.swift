import Foundation
import NKudoContract
import Testing

@testable import NKudoStore
import NKudoSQL
import SQLTestSupport

// The operators' reads: plans, one VM, tenants, API keys and their revocation, the audit trail.
extension StoreTests {
    @Test("a plan is read with its executions in action order, its status and times; never another tenant's", arguments: testedDialects)
    func planWithExecutions(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let world = try await fixture.world()
            let vmID = StoreFixture.id()
            let plan = fixture.plan(world, key: "read-me", [
                StoreFixture.action(.create, vm: vmID, name: "web", operationID: "c"), StoreFixture.action(.start, vm: vmID, operationID: "s"),
            ])
            _ = try await fixture.store.applyPlan(plan, now: StoreFixture.t0)
            let pending = try #require(try await fixture.store.plan(id: plan.planID, tenantID: world.tenantID))
            #expect(pending.id == plan.planID && pending.tenantId == world.tenantID && pending.siteId == world.siteID)
            #expect(pending.version == 1 && pending.status == .pending && pending.idempotencyKey == "read-me")
            #expect(pending.createdAt == ProtoTimestamp(date: StoreFixture.t0) && pending.startedAt == nil && pending.completedAt == nil)
            #expect(pending.executions.map(\.id) == plan.executionIDs)
            #expect(pending.executions.map(\.operationId) == ["c", "s"])

            _ = try await fixture.store.leasePlans(agentID: world.agent.agentID, lease: StoreFixture.lease, now: StoreFixture.at(1))
            _ = try await fixture.store.reportResults(
                ResultReport(agentID: world.agent.agentID, planID: plan.planID,
                             results: [StoreFixture.result("c", ok: true, at: StoreFixture.at(2)), StoreFixture.result("s", ok: false, at: StoreFixture.at(3))]),
                now: StoreFixture.at(3))
            let done = try #require(try await fixture.store.plan(id: plan.planID, tenantID: world.tenantID))
            #expect(done.status == .failed)
            #expect(done.startedAt == ProtoTimestamp(date: StoreFixture.at(1)) && done.completedAt == ProtoTimestamp(date: StoreFixture.at(3)))
            #expect(done.executions.map(\.state) == [.succeeded, .failed])

            let other = try await fixture.tenant()
            #expect(try await fixture.store.plan(id: plan.planID, tenantID: other.id) == nil)
            #expect(try await fixture.store.plan(id: StoreFixture.id(), tenantID: world.tenantID) == nil)
        }
    }

    @Test("plans are listed newest first, page by page with the cursor, each with its executions; only the site's", arguments: testedDialects)
    func listPlansPaged(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let world = try await fixture.world()
            var applied: [AppliedPlan] = []
            for index in 0..<5 {
                let vmID = StoreFixture.id()
                applied.append(try await fixture.apply(world, [
                    StoreFixture.action(.create, vm: vmID, name: "vm-\(index)", operationID: "c"), StoreFixture.action(.start, vm: vmID, operationID: "s"),
                ], at: StoreFixture.at(TimeInterval(index))))
            }
            // Another site of the tenant and another tenant's site have plans of their own.
            let otherSite = try await fixture.site(tenantID: world.tenantID)
            let otherWorld = StoreFixture.World(tenantID: world.tenantID, siteID: otherSite.id, agent: world.agent)
            _ = try await fixture.apply(otherWorld, [StoreFixture.action(.create, vm: StoreFixture.id())])
            let stranger = try await fixture.world()
            _ = try await fixture.apply(stranger, [StoreFixture.action(.create, vm: StoreFixture.id())])

            var versions: [Int64] = []
            var cursor: String?
            var pages = 0
            repeat {
                let page = try await fixture.store.listPlans(tenantID: world.tenantID, siteID: world.siteID, limit: 2, cursor: cursor)
                #expect(page.plans.count <= 2)
                for plan in page.plans {
                    #expect(plan.siteId == world.siteID)
                    #expect(plan.executions.map(\.operationId) == ["c", "s"])
                    #expect(plan.executions.allSatisfy { $0.planId == plan.id })
                }
                versions += page.plans.map(\.version)
                cursor = page.nextCursor
                pages += 1
            } while cursor != nil && pages < 10
            #expect(versions == [5, 4, 3, 2, 1])
            #expect(pages == 3)
            let all = try await fixture.store.listPlans(tenantID: world.tenantID, siteID: world.siteID, limit: 50, cursor: nil)
            #expect(all.plans.map(\.id) == applied.reversed().map(\.planID))
            #expect(all.nextCursor == nil)
            #expect(try await fixture.store.listPlans(tenantID: stranger.tenantID, siteID: world.siteID, limit: 50, cursor: nil).plans.isEmpty)
            for bad in ["abc", "0", "-1", "1.5", "99999999999999999999"] {
                let error = await storeError { try await fixture.store.listPlans(tenantID: world.tenantID, siteID: world.siteID, limit: 2, cursor: bad) }
                #expect(error?.code == .invalid, "cursor \(bad)")
            }
        }
    }

    @Test("one VM is read by id within its tenant's site only", arguments: testedDialects)
    func microVMByID(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let world = try await fixture.world()
            let vmID = StoreFixture.id()
            _ = try await fixture.apply(world, [StoreFixture.action(.create, vm: vmID, name: "db-1")])
            let vm = try #require(try await fixture.store.microVM(tenantID: world.tenantID, siteID: world.siteID, vmID: vmID))
            #expect(vm.id == vmID && vm.name == "db-1" && vm.state == .creating && vm.vcpuCount == 2 && vm.memoryMib == 512)
            let otherSite = try await fixture.site(tenantID: world.tenantID)
            #expect(try await fixture.store.microVM(tenantID: world.tenantID, siteID: otherSite.id, vmID: vmID) == nil)
            let stranger = try await fixture.tenant()
            #expect(try await fixture.store.microVM(tenantID: stranger.id, siteID: world.siteID, vmID: vmID) == nil)
        }
    }

    @Test("tenants and a tenant's API keys are listed newest first; keys without secrets, revoked ones included", arguments: testedDialects)
    func tenantsAndKeys(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            var tenantIDs: [String] = []
            for index in 0..<3 {
                let tenant = try await fixture.store.createTenant(NewTenant(
                    id: StoreFixture.id(), slug: "tenant-\(index)-\(StoreFixture.id().prefix(8))", name: "T\(index)", primaryRegion: "eu-central-1",
                    dataRetentionDays: 30, createdAt: StoreFixture.at(TimeInterval(index))))
                tenantIDs.append(tenant.id)
            }
            #expect(try await fixture.store.listTenants().map(\.id) == tenantIDs.reversed())

            let tenantID = tenantIDs[0]
            var keyIDs: [String] = []
            for index in 0..<3 {
                let key = try await fixture.store.createAPIKey(NewAPIKey(
                    id: StoreFixture.id(), tenantID: tenantID, name: "key-\(index)", keyHash: "hash-\(StoreFixture.id())",
                    expiresAt: index == 1 ? StoreFixture.at(60) : nil, createdAt: StoreFixture.at(TimeInterval(10 + index))))
                keyIDs.append(key.id)
            }
            _ = try await fixture.store.createAPIKey(NewAPIKey(id: StoreFixture.id(), tenantID: tenantIDs[1], name: "theirs", keyHash: "hash-theirs",
                                                               expiresAt: nil, createdAt: StoreFixture.t0))
            _ = try await fixture.store.revokeAPIKey(tenantID: tenantID, id: keyIDs[2], now: StoreFixture.at(20))
            let keys = try await fixture.store.listAPIKeys(tenantID: tenantID)
            #expect(keys.map(\.id) == keyIDs.reversed())
            #expect(keys.map(\.name) == ["key-2", "key-1", "key-0"])
            #expect(keys[0].revokedAt == ProtoTimestamp(date: StoreFixture.at(20)) && keys[1].revokedAt == nil)
            #expect(keys[1].expiresAt == ProtoTimestamp(date: StoreFixture.at(60)) && keys[2].expiresAt == nil)
            #expect(keys[2].createdAt == ProtoTimestamp(date: StoreFixture.at(10)))
            #expect(try await fixture.store.listAPIKeys(tenantID: tenantIDs[2]).isEmpty)
            #expect(await storeError { try await fixture.store.listAPIKeys(tenantID: StoreFixture.id()) }?.code == .notFound)
        }
    }

    @Test("a revoked API key no longer authenticates; revoking again keeps the first time; another tenant's key is not found", arguments: testedDialects)
    func revokeAPIKey(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let tenant = try await fixture.tenant()
            let stranger = try await fixture.tenant()
            let key = try await fixture.store.createAPIKey(NewAPIKey(id: StoreFixture.id(), tenantID: tenant.id, name: "ci", keyHash: "hash-ci",
                                                                     expiresAt: nil, createdAt: StoreFixture.t0))
            #expect(try await fixture.store.apiKey(hash: "hash-ci", now: StoreFixture.at(1)) != nil)
            #expect(await storeError { try await fixture.store.revokeAPIKey(tenantID: stranger.id, id: key.id, now: StoreFixture.at(2)) }?.code == .notFound)
            #expect(try await fixture.store.apiKey(hash: "hash-ci", now: StoreFixture.at(2)) != nil)

            let first = try await fixture.store.revokeAPIKey(tenantID: tenant.id, id: key.id, now: StoreFixture.at(3))
            #expect(first.revokedNow)
            #expect(first.key.id == key.id && first.key.revokedAt == ProtoTimestamp(date: StoreFixture.at(3)))
            #expect(try await fixture.store.apiKey(hash: "hash-ci", now: StoreFixture.at(4)) == nil)
            let again = try await fixture.store.revokeAPIKey(tenantID: tenant.id, id: key.id, now: StoreFixture.at(5))
            #expect(!again.revokedNow)
            #expect(again.key.revokedAt == ProtoTimestamp(date: StoreFixture.at(3)))
            #expect(await storeError { try await fixture.store.revokeAPIKey(tenantID: tenant.id, id: StoreFixture.id(), now: StoreFixture.at(6)) }?.code == .notFound)
        }
    }

    private static func event(_ tenantID: String?, _ action: String, at second: TimeInterval, site: String? = nil) -> NewAuditEvent {
        NewAuditEvent(tenantID: tenantID, siteID: site, actorType: .user, actorID: "key-1", action: action, resourceType: "thing",
                      resourceID: "r-\(action)", requestID: "req", sourceIP: "192.0.2.7", metadata: AuditMetadata(count: 2), occurredAt: StoreFixture.at(second))
    }

    @Test("audit events: the tenant's only, newest first, filtered by exact action, action prefix and time, page by page", arguments: testedDialects)
    func listAuditEvents(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let tenant = try await fixture.tenant()
            let stranger = try await fixture.tenant()
            // Two events share a time: the id orders them.
            let actions: [(String, TimeInterval)] = [
                ("site.create", 1), ("plan.apply", 2), ("plan.apply", 3), ("plan.cancel", 3), ("planet.x", 4), ("host.retire", 5), ("plan.apply", 6),
            ]
            var ids: [Int64] = []
            for (action, second) in actions {
                ids.append(try await fixture.store.recordAudit(Self.event(tenant.id, action, at: second, site: "s-1")))
            }
            try await fixture.store.recordAudit(Self.event(stranger.id, "plan.apply", at: 7))
            try await fixture.store.recordAudit(Self.event(nil, "auth.failure", at: 8))

            let all = try await fixture.store.listAuditEvents(tenantID: tenant.id, filter: AuditEventFilter(), limit: 100, cursor: nil)
            #expect(all.events.map(\.id) == ids.reversed())
            #expect(all.nextCursor == nil)
            let newest = try #require(all.events.first)
            #expect(newest.tenantId == tenant.id && newest.siteId == "s-1" && newest.actorType == .user && newest.actorId == "key-1")
            #expect(newest.action == "plan.apply" && newest.resourceType == "thing" && newest.resourceId == "r-plan.apply")
            #expect(newest.requestId == "req" && newest.sourceIp == "192.0.2.7" && newest.metadataJson == #"{"count":2}"#)
            #expect(newest.occurredAt == ProtoTimestamp(date: StoreFixture.at(6)))

            func actionsOf(_ filter: AuditEventFilter) async throws -> [String] {
                try await fixture.store.listAuditEvents(tenantID: tenant.id, filter: filter, limit: 100, cursor: nil).events.map(\.action)
            }
            #expect(try await actionsOf(AuditEventFilter(action: "plan.apply")) == ["plan.apply", "plan.apply", "plan.apply"])
            #expect(try await actionsOf(AuditEventFilter(action: "plan.")) == ["plan.apply", "plan.cancel", "plan.apply", "plan.apply"])
            #expect(try await actionsOf(AuditEventFilter(action: "plan")) == [])
            #expect(try await actionsOf(AuditEventFilter(action: "auth.failure")) == [])
            #expect(try await actionsOf(AuditEventFilter(since: StoreFixture.at(3), until: StoreFixture.at(5))) == ["planet.x", "plan.cancel", "plan.apply"])
            #expect(try await actionsOf(AuditEventFilter(action: "plan.", since: StoreFixture.at(3))) == ["plan.apply", "plan.cancel", "plan.apply"])

            var paged: [Int64] = []
            var cursor: String?
            var pages = 0
            repeat {
                let page = try await fixture.store.listAuditEvents(tenantID: tenant.id, filter: AuditEventFilter(), limit: 3, cursor: cursor)
                paged += page.events.map(\.id)
                cursor = page.nextCursor
                pages += 1
            } while cursor != nil && pages < 10
            #expect(paged == ids.reversed())
            #expect(pages == 3)
            let prefixPage = try await fixture.store.listAuditEvents(tenantID: tenant.id, filter: AuditEventFilter(action: "plan."), limit: 2, cursor: nil)
            let rest = try await fixture.store.listAuditEvents(tenantID: tenant.id, filter: AuditEventFilter(action: "plan."), limit: 2,
                                                               cursor: prefixPage.nextCursor)
            #expect((prefixPage.events + rest.events).map(\.id) == [ids[6], ids[3], ids[2], ids[1]])
            #expect(rest.nextCursor == nil)

            #expect(try await fixture.store.listAuditEvents(tenantID: StoreFixture.id(), filter: AuditEventFilter(), limit: 100, cursor: nil).events.isEmpty)
            for bad in ["abc", "12", "1.x", "1.0", ".5", "1.2.3", "99999999999999999999.1"] {
                let error = await storeError {
                    try await fixture.store.listAuditEvents(tenantID: tenant.id, filter: AuditEventFilter(), limit: 2, cursor: bad)
                }
                #expect(error?.code == .invalid, "cursor \(bad)")
            }
        }
    }
}
