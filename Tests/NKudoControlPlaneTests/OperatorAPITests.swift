import AsyncHTTPClient
import ControlPlaneTestSupport
import Foundation
import NIOCore
import NIOHTTP1
import NKudoContract
import NKudoControlPlane
import Testing

/// The operators' API (issue 15): plans and their long poll, one VM, the audit trail,
/// tenants and API keys with revocation, over real HTTPS in JSON and binary, against every
/// store.
@Suite("Operator API", .serialized)
struct OperatorAPITests {
    static let matrix = ControlPlaneFlowTests.matrix

    /// Runs `body` with a fresh control plane on `backend` and a fleet speaking `format`.
    private static func withFleet(_ backend: ControlPlaneHarness.Backend, _ format: WireFormat,
                                  _ body: (ControlPlaneHarness, Fleet) async throws -> Void) async throws {
        let harness = try await ControlPlaneHarness(backend: backend)
        do {
            try await body(harness, try await Fleet.create(harness, format: format))
        } catch {
            await harness.shutdown()
            throw error
        }
        await harness.shutdown()
    }

    private static func status<T>(_ body: () async throws -> T) async -> Int {
        await ControlPlaneFlowTests.status(body)
    }

    private static func elapsed(since start: ContinuousClock.Instant) -> Duration {
        start.duration(to: .now)
    }

    @Test("GetPlan and ListPlans return plans with their executions, newest first, page by page", arguments: matrix)
    func plans(backend: ControlPlaneHarness.Backend, format: WireFormat) async throws {
        try await Self.withFleet(backend, format) { _, fleet in
            let tenant = try fleet.tenantClient
            let vmID = UUID().uuidString.lowercased()
            let first = try await tenant.applyPlan(ApplyPlanRequest(siteId: fleet.site.id, idempotencyKey: "first", actions: [
                .init(operationId: "create", operation: .create, vmId: vmID, name: "web-1"), .init(operationId: "start", operation: .start, vmId: vmID),
            ]))
            let second = try await tenant.applyPlan(ApplyPlanRequest(siteId: fleet.site.id, idempotencyKey: "second",
                                                                     actions: [.init(operation: .create, name: "web-2")]))
            let plan = try await tenant.getPlan(GetPlanRequest(planId: first.planId))
            #expect(plan.id == first.planId && plan.tenantId == fleet.tenant.id && plan.siteId == fleet.site.id)
            #expect(plan.version == 1 && plan.status == .pending && plan.idempotencyKey == "first")
            #expect(plan.createdAt != nil && plan.updatedAt != nil && plan.startedAt == nil && plan.completedAt == nil)
            #expect(plan.executions == first.executions)
            #expect(plan.executions.map(\.operationId) == ["create", "start"])

            let all = try await tenant.listPlans(ListPlansRequest(siteId: fleet.site.id))
            #expect(all.plans.map(\.id) == [second.planId, first.planId])
            #expect(all.plans.map(\.version) == [2, 1])
            #expect(all.plans[1] == plan)
            #expect(all.nextCursor == nil)
            let page = try await tenant.listPlans(ListPlansRequest(siteId: fleet.site.id, limit: 1))
            #expect(page.plans.map(\.id) == [second.planId])
            let cursor = try #require(page.nextCursor)
            let next = try await tenant.listPlans(ListPlansRequest(siteId: fleet.site.id, limit: 1, cursor: cursor))
            #expect(next.plans.map(\.id) == [first.planId])
            #expect(next.nextCursor == nil)

            let other = try await Fleet.create(fleet.harness, format: format, slug: "other")
            let otherClient = try other.tenantClient
            #expect(await Self.status { try await otherClient.getPlan(GetPlanRequest(planId: first.planId)) } == 404)
            #expect(await Self.status { try await otherClient.listPlans(ListPlansRequest(siteId: fleet.site.id)) } == 404)
            #expect(try await otherClient.listPlans(ListPlansRequest(siteId: other.site.id)).plans.isEmpty)
        }
    }

    @Test("GetPlan with wait answers as soon as the plan finishes, and with the plan as it is when the wait is over", arguments: matrix)
    func planWait(backend: ControlPlaneHarness.Backend, format: WireFormat) async throws {
        try await Self.withFleet(backend, format) { _, fleet in
            let tenant = try fleet.tenantClient
            let agent = try await fleet.enrollAgent()
            let applied = try await tenant.applyPlan(ApplyPlanRequest(siteId: fleet.site.id, idempotencyKey: "wait",
                                                                      actions: [.init(operation: .create, name: "waited")]))
            // Nobody works on the plan: the wait runs out and the plan comes back unfinished.
            var start = ContinuousClock.now
            let unfinished = try await tenant.getPlan(GetPlanRequest(planId: applied.planId, wait: "1500ms"))
            var waited = Self.elapsed(since: start)
            #expect(unfinished.status == .pending)
            #expect(waited >= .milliseconds(1400) && waited < .seconds(10), "waited \(waited)")

            // The agent finishes the plan while a caller waits: the caller learns it at once.
            start = ContinuousClock.now
            let waiter = Task { try await tenant.getPlan(GetPlanRequest(planId: applied.planId, wait: "30s")) }
            try await Task.sleep(for: .milliseconds(700))
            let leased = try #require(try await agent.client.heartbeat(HeartbeatRequest(heartbeatSeq: 1)).pendingPlans.first)
            #expect(leased.planId == applied.planId)
            let result = try await agent.client.reportExecutionResult(ReportExecutionResultRequest(
                planId: leased.planId, executionId: leased.executionId, results: [.init(actionId: leased.actions[0].actionId, ok: true, message: "ok")]))
            #expect(result.planStatus == .succeeded)
            let finished = try await waiter.value
            waited = Self.elapsed(since: start)
            #expect(finished.status == .succeeded)
            #expect(finished.completedAt != nil && finished.startedAt != nil)
            #expect(finished.executions.map(\.state) == [.succeeded])
            #expect(waited >= .milliseconds(600) && waited < .seconds(10), "waited \(waited)")

            // A finished plan is answered at once, whatever the wait.
            start = ContinuousClock.now
            #expect(try await tenant.getPlan(GetPlanRequest(planId: applied.planId, wait: "1m")).status == .succeeded)
            #expect(Self.elapsed(since: start) < .seconds(5))
        }
    }

    @Test("a long poll ends soon after its client goes away, and does not hold up the server's shutdown")
    func planWaitEnds() async throws {
        let token = "metrics-token-\(UUID().uuidString)"
        let harness = try await ControlPlaneHarness { $0.metricsToken = token }
        do {
            let fleet = try await Fleet.create(harness)
            let applied = try await fleet.tenantClient.applyPlan(ApplyPlanRequest(siteId: fleet.site.id, idempotencyKey: "gone",
                                                                                  actions: [.init(operation: .create, name: "gone")]))
            // The client gives up after a second and closes its connection; the server notices
            // and answers the (lost) call long before the minute is over.
            var request = HTTPClientRequest(url: harness.baseURL + "/plans/\(applied.planId)?wait=60s")
            request.headers.add(name: "X-API-Key", value: fleet.apiKey)
            let impatient = try harness.client()
            await #expect(throws: (any Error).self) { _ = try await impatient.execute(request, timeout: .seconds(1)) }
            let client = try harness.client()
            let answered = #"nkudo_http_requests_total{route="GET /plans/{plan_id}",status="200"}"#
            var seen = false
            let start = ContinuousClock.now
            while !seen && Self.elapsed(since: start) < .seconds(15) {
                let metrics = try await harness.send(client, .GET, "/metrics", headers: [("Authorization", "Bearer \(token)")])
                seen = String(decoding: metrics.body, as: UTF8.self).contains(answered)
                if !seen { try await Task.sleep(for: .milliseconds(200)) }
            }
            #expect(seen, "the long poll of a client that went away was still running after 15 s")

            // A waiting call does not keep a stopping server up for its minute.
            let waiter = Task { try await fleet.tenantClient.getPlan(GetPlanRequest(planId: applied.planId, wait: "60s")) }
            try await Task.sleep(for: .milliseconds(500))
            let stopping = ContinuousClock.now
            await harness.stopServing()
            #expect(Self.elapsed(since: stopping) < .seconds(15))
            _ = try? await waiter.value
        } catch {
            await harness.shutdown()
            throw error
        }
        await harness.shutdown()
    }

    @Test("GetMicroVM answers one VM of the site; other sites and tenants, unknown and malformed ids are 404", arguments: matrix)
    func microVM(backend: ControlPlaneHarness.Backend, format: WireFormat) async throws {
        try await Self.withFleet(backend, format) { _, fleet in
            let tenant = try fleet.tenantClient
            let vmID = UUID().uuidString.lowercased()
            _ = try await tenant.applyPlan(ApplyPlanRequest(siteId: fleet.site.id, idempotencyKey: "vm",
                                                            actions: [.init(operation: .create, vmId: vmID, name: "db-1", vcpuCount: 2, memoryMib: 1024)]))
            let vm = try await tenant.getMicroVM(GetMicroVMRequest(siteId: fleet.site.id, vmId: vmID.uppercased()))
            #expect(vm.id == vmID && vm.name == "db-1" && vm.siteId == fleet.site.id && vm.state == .creating)
            #expect(vm.vcpuCount == 2 && vm.memoryMib == 1024)
            #expect(try await tenant.listMicroVMs(ListMicroVMsRequest(siteId: fleet.site.id)).vms == [vm])

            let otherSite = try await tenant.createSite(CreateSiteRequest(tenantId: fleet.tenant.id, name: "other-site"))
            let other = try await Fleet.create(fleet.harness, format: format, slug: "other")
            let statuses = await [
                Self.status { try await tenant.getMicroVM(GetMicroVMRequest(siteId: otherSite.id, vmId: vmID)) },
                Self.status { try await tenant.getMicroVM(GetMicroVMRequest(siteId: fleet.site.id, vmId: UUID().uuidString)) },
                Self.status { try await tenant.getMicroVM(GetMicroVMRequest(siteId: fleet.site.id, vmId: "not-a-vm")) },
                Self.status { try await other.tenantClient.getMicroVM(GetMicroVMRequest(siteId: fleet.site.id, vmId: vmID)) },
                Self.status { try await other.tenantClient.getMicroVM(GetMicroVMRequest(siteId: other.site.id, vmId: vmID)) },
            ]
            #expect(statuses == [404, 404, 404, 404, 404])
        }
    }

    @Test("ListAuditEvents lists the tenant's own events newest first, by action, action prefix and time, page by page", arguments: matrix)
    func auditEvents(backend: ControlPlaneHarness.Backend, format: WireFormat) async throws {
        try await Self.withFleet(backend, format) { _, fleet in
            let tenant = try fleet.tenantClient
            _ = try await tenant.applyPlan(ApplyPlanRequest(siteId: fleet.site.id, idempotencyKey: "a1", actions: [.init(operation: .create, name: "a")]))
            _ = try await tenant.applyPlan(ApplyPlanRequest(siteId: fleet.site.id, idempotencyKey: "a2", actions: [.init(operation: .create, name: "b")]))
            let other = try await Fleet.create(fleet.harness, format: format, slug: "other")
            _ = try await other.tenantClient.applyPlan(ApplyPlanRequest(siteId: other.site.id, idempotencyKey: "x", actions: [.init(operation: .create)]))

            let all = try await tenant.listAuditEvents(ListAuditEventsRequest(tenantId: fleet.tenant.id))
            #expect(all.events.map(\.action) == ["plan.apply", "plan.apply", "site.create", "apikey.create", "tenant.create"])
            #expect(all.events.allSatisfy { $0.tenantId == fleet.tenant.id })
            #expect(all.nextCursor == nil)
            let apply = try #require(all.events.first)
            #expect(apply.siteId == fleet.site.id && apply.actorType == .user && apply.resourceType == "plan")
            #expect(apply.metadataJson == #"{"deduplicated":false}"# && apply.requestId != nil && apply.occurredAt != nil)

            let exact = try await tenant.listAuditEvents(ListAuditEventsRequest(tenantId: fleet.tenant.id, action: "site.create"))
            #expect(exact.events.map(\.resourceId) == [fleet.site.id])
            let prefix = try await tenant.listAuditEvents(ListAuditEventsRequest(tenantId: fleet.tenant.id, action: "plan."))
            #expect(prefix.events.count == 2)
            #expect(try await tenant.listAuditEvents(ListAuditEventsRequest(tenantId: fleet.tenant.id, action: "plan")).events.isEmpty)

            let siteCreated = try #require(exact.events.first?.occurredAt)
            let since = try await tenant.listAuditEvents(ListAuditEventsRequest(tenantId: fleet.tenant.id, since: try siteCreated.rfc3339()))
            #expect(since.events.map(\.action) == ["plan.apply", "plan.apply", "site.create"])
            let until = try await tenant.listAuditEvents(ListAuditEventsRequest(tenantId: fleet.tenant.id, until: try siteCreated.rfc3339()))
            #expect(until.events.map(\.action) == ["apikey.create", "tenant.create"])
            let future = try ProtoTimestamp(date: Date().addingTimeInterval(3600)).rfc3339()
            #expect(try await tenant.listAuditEvents(ListAuditEventsRequest(tenantId: fleet.tenant.id, since: future)).events.isEmpty)

            var paged: [AuditEvent] = []
            var cursor = ""
            for _ in 0..<10 {
                let page = try await tenant.listAuditEvents(ListAuditEventsRequest(tenantId: fleet.tenant.id, limit: 2, cursor: cursor))
                #expect(page.events.count <= 2)
                paged += page.events
                guard let next = page.nextCursor else { break }
                cursor = next
            }
            #expect(paged == all.events)

            #expect(await Self.status { try await other.tenantClient.listAuditEvents(ListAuditEventsRequest(tenantId: fleet.tenant.id)) } == 403)
            #expect(try await other.tenantClient.listAuditEvents(ListAuditEventsRequest(tenantId: other.tenant.id)).events.allSatisfy {
                $0.tenantId == other.tenant.id
            })
        }
    }

    @Test("ListTenants and ListAPIKeys list newest first; RevokeAPIKey refuses the key at once, is audited and idempotent", arguments: matrix)
    func tenantsAndKeys(backend: ControlPlaneHarness.Backend, format: WireFormat) async throws {
        try await Self.withFleet(backend, format) { harness, fleet in
            let admin = try fleet.admin
            let other = try await Fleet.create(harness, format: format, slug: "other")
            let tenants = try await admin.listTenants(ListTenantsRequest()).tenants
            #expect(tenants.map(\.id) == [other.tenant.id, fleet.tenant.id])
            #expect(tenants.last == fleet.tenant)

            let second = try await admin.createAPIKey(CreateAPIKeyRequest(tenantId: fleet.tenant.id, name: "deployer", expiresInSeconds: 3600))
            let secondClient = TenantServiceClient(transport: TestTransport(harness: harness, client: try harness.client(), format: format,
                                                                            headers: [("X-API-Key", second.apiKey)]))
            #expect(try await secondClient.listSites(ListSitesRequest(tenantId: fleet.tenant.id)).sites.map(\.id) == [fleet.site.id])
            let keys = try await admin.listAPIKeys(ListAPIKeysRequest(tenantId: fleet.tenant.id)).apiKeys
            #expect(keys.map(\.name) == ["deployer", "ci"])
            #expect(keys[0].id == second.id && keys[0].expiresAt == second.expiresAt && keys[0].revokedAt == nil && keys[0].createdAt != nil)
            #expect(keys[1].expiresAt == nil)

            let revoked = try await admin.revokeAPIKey(RevokeAPIKeyRequest(tenantId: fleet.tenant.id, apiKeyId: second.id))
            #expect(revoked.id == second.id && revoked.tenantId == fleet.tenant.id && revoked.name == "deployer")
            let revokedAt = try #require(revoked.revokedAt)
            do {
                _ = try await secondClient.listSites(ListSitesRequest(tenantId: fleet.tenant.id))
                Issue.record("a revoked key was accepted")
            } catch let failure as TestTransport.Failure {
                #expect(failure.status == 401)
                #expect(format == .binary || failure.body.contains("invalid api key"), "\(failure.body)")
            }
            // The tenant's other key still works and sees the revocation in the audit trail.
            let audit = try await fleet.tenantClient.listAuditEvents(ListAuditEventsRequest(tenantId: fleet.tenant.id, action: "apikey.revoke"))
            #expect(audit.events.map(\.resourceId) == [second.id])
            #expect(audit.events.first?.actorType == .system && audit.events.first?.resourceType == "api_key")

            let again = try await admin.revokeAPIKey(RevokeAPIKeyRequest(tenantId: fleet.tenant.id, apiKeyId: second.id))
            #expect(again.revokedAt == revokedAt)
            #expect(try await fleet.tenantClient.listAuditEvents(ListAuditEventsRequest(tenantId: fleet.tenant.id, action: "apikey.revoke")).events.count == 1)
            #expect(try await admin.listAPIKeys(ListAPIKeysRequest(tenantId: fleet.tenant.id)).apiKeys.first?.revokedAt == revokedAt)

            let statuses = await [
                Self.status { try await admin.revokeAPIKey(RevokeAPIKeyRequest(tenantId: other.tenant.id, apiKeyId: second.id)) },
                Self.status { try await admin.revokeAPIKey(RevokeAPIKeyRequest(tenantId: fleet.tenant.id, apiKeyId: UUID().uuidString)) },
                Self.status { try await admin.revokeAPIKey(RevokeAPIKeyRequest(tenantId: fleet.tenant.id, apiKeyId: "not-a-key")) },
                Self.status { try await admin.listAPIKeys(ListAPIKeysRequest(tenantId: UUID().uuidString)) },
                Self.status { try await admin.listAPIKeys(ListAPIKeysRequest(tenantId: "not-a-tenant")) },
                Self.status { try await fleet.tenantClient.listSites(ListSitesRequest(tenantId: fleet.tenant.id)) },
            ]
            #expect(statuses == [404, 404, 404, 404, 404, 200])
            // The admin routes want the admin key: a tenant's key is no admin key.
            let impostor = AdminServiceClient(transport: TestTransport(harness: harness, client: try harness.client(), format: format,
                                                                       headers: [("X-Admin-Key", fleet.apiKey)]))
            #expect(await Self.status { try await impostor.listTenants(ListTenantsRequest()) } == 401)
        }
    }

    @Test("hostile inputs: bad waits, times, cursors and limits are 400, malformed ids 404; routes share paths", arguments: ControlPlaneHarness.Backend.enabled)
    func hostileInputs(backend: ControlPlaneHarness.Backend) async throws {
        try await Self.withFleet(backend, .json) { harness, fleet in
            let applied = try await fleet.tenantClient.applyPlan(ApplyPlanRequest(siteId: fleet.site.id, idempotencyKey: "h",
                                                                                  actions: [.init(operation: .create, name: "h")]))
            let vmID = try #require(applied.executions.first?.vmId)
            let logs = "/executions/\(try #require(applied.executions.first?.id))/logs"
            let client = try harness.client()
            let tenantKey = [("X-API-Key", fleet.apiKey)]
            let adminKey = [("X-Admin-Key", harness.configuration.adminKey!)]
            let plan = "/plans/\(applied.planId)"
            let site = "/sites/\(fleet.site.id)"
            let audit = "/tenants/\(fleet.tenant.id)/audit-events"
            let cases: [(HTTPMethod, String, [(String, String)], Int)] = [
                (.GET, plan + "?wait=abc", tenantKey, 400),
                (.GET, plan + "?wait=61s", tenantKey, 400),
                (.GET, plan + "?wait=2m", tenantKey, 400),
                (.GET, plan + "?wait=1h", tenantKey, 400),
                (.GET, plan + "?wait=-1s", tenantKey, 400),
                (.GET, plan + "?wait=5", tenantKey, 400),
                (.GET, plan + "?wait=1.2.3s", tenantKey, 400),
                (.GET, plan + "?wait=s", tenantKey, 400),
                (.GET, plan + "?wait=99999999999999999999999999999999999999s", tenantKey, 400),
                (.GET, plan + "?wait=1e3s", tenantKey, 400),
                (.GET, plan + "?wait=%00", tenantKey, 400),
                (.GET, plan + "?wait=0", tenantKey, 200),
                (.GET, plan + "?wait=0s", tenantKey, 200),
                (.GET, "/plans/not-a-plan", tenantKey, 404),
                (.GET, "/plans/not-a-plan?wait=abc", tenantKey, 400),
                (.GET, "/plans/\(UUID().uuidString)?wait=30s", tenantKey, 404),
                (.GET, plan, [], 401),
                (.GET, plan, adminKey, 401),
                (.PUT, plan, tenantKey, 405),
                (.GET, site + "/plans?cursor=abc", tenantKey, 400),
                (.GET, site + "/plans?cursor=0", tenantKey, 400),
                (.GET, site + "/plans?cursor=-3", tenantKey, 400),
                (.GET, site + "/plans?limit=abc", tenantKey, 400),
                (.GET, site + "/plans?limit=-5", tenantKey, 200),
                (.GET, site + "/plans?limit=100000", tenantKey, 200),
                (.GET, "/sites/not-a-site/plans", tenantKey, 404),
                (.GET, audit + "?since=yesterday", tenantKey, 400),
                (.GET, audit + "?until=2026-13-01T00:00:00Z", tenantKey, 400),
                (.GET, audit + "?since=2026-02-06", tenantKey, 400),
                (.GET, audit + "?since=2026-02-07T00:00:00Z&until=2026-02-06T00:00:00Z", tenantKey, 400),
                (.GET, audit + "?cursor=1.x", tenantKey, 400),
                (.GET, audit + "?cursor=abc", tenantKey, 400),
                (.GET, audit + "?limit=-1&action=plan.", tenantKey, 200),
                (.GET, "/tenants/not-a-tenant/audit-events", tenantKey, 403),
                (.GET, logs + "?limit=abc", tenantKey, 400),
                (.GET, logs + "?limit=-5", tenantKey, 200),
                (.GET, logs + "?limit=100000", tenantKey, 200),
                (.GET, logs + "?cursor=abc", tenantKey, 400),
                (.GET, site + "/vms/not-a-vm", tenantKey, 404),
                (.GET, site + "/vms/\(vmID)", tenantKey, 200),
                (.GET, site + "/vms/\(vmID)/console", tenantKey, 200),
                (.GET, site + "/vms", tenantKey, 200),
                (.GET, site + "/plans", tenantKey, 200),
                (.DELETE, "/tenants/\(fleet.tenant.id)/api-keys/not-a-key", adminKey, 404),
                (.DELETE, "/tenants/not-a-tenant/api-keys/\(UUID().uuidString)", adminKey, 404),
                (.DELETE, "/tenants/\(fleet.tenant.id)/api-keys/\(UUID().uuidString)", tenantKey, 401),
                (.GET, "/tenants/not-a-tenant/api-keys", adminKey, 404),
                (.GET, "/tenants", adminKey, 200),
                (.GET, "/tenants", tenantKey, 401),
            ]
            for (method, path, headers, expected) in cases {
                let response = try await harness.send(client, method, path, headers: headers)
                let body = String(decoding: response.body, as: UTF8.self)
                #expect(response.status == expected, "\(method) \(path): \(response.status) \(body)")
                if expected == 400 { #expect(body.contains("\"error\""), "\(path): \(body)") }
            }
            let badWait = try await harness.send(client, .GET, plan + "?wait=90s", headers: tenantKey)
            #expect(String(decoding: badWait.body, as: UTF8.self).contains("wait must be a duration"))
            let badTime = try await harness.send(client, .GET, audit + "?since=yesterday", headers: tenantKey)
            #expect(String(decoding: badTime.body, as: UTF8.self).contains("since must be an RFC 3339 time"))
            let badCursor = try await harness.send(client, .GET, site + "/plans?cursor=abc", headers: tenantKey)
            #expect(String(decoding: badCursor.body, as: UTF8.self).contains("invalid cursor"))
            // POST on the path of ListPlans still applies plans.
            let apply = try await harness.send(client, .POST, site + "/plans",
                                               body: Array(#"{"idempotency_key":"post","actions":[{"operation":"CREATE","name":"p"}]}"#.utf8),
                                               headers: tenantKey + [("Content-Type", "application/json")])
            #expect(apply.status == 200, "\(String(decoding: apply.body, as: UTF8.self))")
        }
    }
}
