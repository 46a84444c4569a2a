import AsyncHTTPClient
import ControlPlaneTestSupport
import Foundation
import Logging
import NIOHTTP1
import NKudoContract
@testable import NKudoControlPlane
import NKudoPKI
@testable import NKudoStore
import NKudoSQL
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Issue 11 over the API, as a hostile agent, tenant or anonymous client would try it, on
/// both stores: fencing of plans, hostile names, retired hosts, the failure budget, the
/// data directory.
@Suite("Safety over the API", .serialized)
struct SafetyTests {
    static func failure(_ body: () async throws -> Void) async -> TestTransport.Failure? {
        do {
            try await body()
            return nil
        } catch {
            return error as? TestTransport.Failure
        }
    }

    @Test("agent Y of the site cannot write agent X's executions, logs or VMs", arguments: ControlPlaneHarness.Backend.enabled)
    func otherAgentCannotWrite(backend: ControlPlaneHarness.Backend) async throws {
        try await ControlPlaneHarness.withFleet(backend) { harness, fleet in
            let x = try await fleet.enrollAgent(hostname: "edge-x")
            let y = try await fleet.enrollAgent(hostname: "edge-y")
            _ = try await fleet.tenantClient.applyPlan(ApplyPlanRequest(siteId: fleet.site.id, idempotencyKey: "k", actions: [
                .init(operation: .create, name: "web"),
            ]))
            let plan = try #require(try await x.client.heartbeat(HeartbeatRequest()).pendingPlans.first)
            #expect(plan.leaseToken == 1 && plan.leaseExpiresAt != nil)
            let action = try #require(plan.actions.first)
            let vmID = action.params?.vmId ?? ""
            _ = try await x.client.heartbeat(HeartbeatRequest(
                executionUpdates: [.init(executionId: action.executionId, state: "IN_PROGRESS", leaseToken: 1)],
                heldLeases: [HeldLease(planId: plan.planId, leaseToken: 1)]))

            // Y: a FAILED update, a lease claim, a VM report of X's VM, a result, log lines.
            for token in [Int64(0), 1] {
                let response = try await y.client.heartbeat(HeartbeatRequest(
                    microvms: [.init(id: vmID, state: "DELETED")],
                    executionUpdates: [.init(executionId: action.executionId, state: "FAILED", errorMessage: "hijack", leaseToken: token)],
                    heldLeases: [HeldLease(planId: plan.planId, leaseToken: token)]))
                #expect(response.leaseRejections.map(\.planId) == [plan.planId])
                #expect(response.leaseRejections.first?.reason == .notHolder)
                let refused = await Self.failure {
                    _ = try await y.client.reportExecutionResult(ReportExecutionResultRequest(
                        executionId: plan.executionId, results: [.init(executionId: action.executionId, actionId: action.actionId, ok: false,
                                                                       message: "hijack")], leaseToken: token))
                }
                #expect(refused?.status == 409 && refused?.body.contains("\"code\":\"aborted\"") == true, "\(refused?.description ?? "accepted")")
                let logs = try await y.client.ingestLogs(IngestLogsRequest(entries: [
                    .init(executionId: action.executionId, sequence: 1, severity: "ERROR", message: "hijack", leaseToken: token),
                ]))
                #expect(logs.acceptedFrames == 0 && logs.droppedFrames == 1)
                let frame = try await y.client.ingestLogFrame(IngestLogFrameRequest(executionId: action.executionId, level: "ERROR",
                                                                                    message: "hijack", leaseToken: token))
                #expect(frame.acceptedFrames == 0)
            }
            let execution = try #require(try await fleet.tenantClient.getStatus(GetStatusRequest(siteId: fleet.site.id)).recentExecutions
                .first { $0.id == action.executionId })
            #expect(execution.state == .inProgress && execution.hostId == x.response.hostId)
            let vm = try #require(try await fleet.tenantClient.listMicroVMs(ListMicroVMsRequest(siteId: fleet.site.id)).vms.first { $0.id == vmID })
            #expect(vm.hostId == x.response.hostId && vm.state == .creating)
            #expect(try await fleet.tenantClient.listExecutionLogs(ListExecutionLogsRequest(executionId: action.executionId)).logs.isEmpty)

            // X, the holder, with its token: accepted.
            let done = try await x.client.reportExecutionResult(ReportExecutionResultRequest(
                executionId: plan.executionId, results: [.init(executionId: action.executionId, actionId: action.actionId, ok: true, message: "ok")],
                leaseToken: 1))
            #expect(done.planStatus == .succeeded)
        }
    }

    @Test("a stale holder's result after its lease expired and another agent took the plan is refused", arguments: ControlPlaneHarness.Backend.enabled)
    func staleHolderIsRefused(backend: ControlPlaneHarness.Backend) async throws {
        try await ControlPlaneHarness.withFleet(backend, { $0.planLeaseTTL = .seconds(2) }) { harness, fleet in
            let x = try await fleet.enrollAgent(hostname: "edge-x")
            let y = try await fleet.enrollAgent(hostname: "edge-y")
            _ = try await fleet.tenantClient.applyPlan(ApplyPlanRequest(siteId: fleet.site.id, idempotencyKey: "k", actions: [.init(operation: .create)]))
            let stale = try #require(try await x.client.heartbeat(HeartbeatRequest()).pendingPlans.first)
            #expect(try await y.client.heartbeat(HeartbeatRequest()).pendingPlans.isEmpty, "the lease is X's")
            try await Task.sleep(for: .milliseconds(2500))
            let taken = try #require(try await y.client.heartbeat(HeartbeatRequest()).pendingPlans.first)
            #expect(taken.planId == stale.planId && taken.leaseToken == 2)
            let action = try #require(stale.actions.first)
            for token in [stale.leaseToken, 0] {
                let refused = await Self.failure {
                    _ = try await x.client.reportExecutionResult(ReportExecutionResultRequest(
                        executionId: stale.executionId, results: [.init(executionId: action.executionId, actionId: action.actionId, ok: true,
                                                                        message: "ok")], leaseToken: token))
                }
                #expect(refused?.status == 409, "stale result with token \(token): \(refused?.description ?? "accepted")")
            }
            let claim = try await x.client.heartbeat(HeartbeatRequest(heldLeases: [HeldLease(planId: stale.planId, leaseToken: 1)]))
            #expect(claim.leaseRejections.first?.reason == .notHolder)
            let done = try await y.client.reportExecutionResult(ReportExecutionResultRequest(
                executionId: taken.executionId, results: [.init(executionId: action.executionId, actionId: action.actionId, ok: true, message: "ok")],
                leaseToken: 2))
            #expect(done.planStatus == .succeeded)
            let execution = try #require(try await fleet.tenantClient.getStatus(GetStatusRequest(siteId: fleet.site.id)).recentExecutions.first)
            #expect(execution.agentId == y.id)
        }
    }

    @Test("VM names that are not RFC 1123 labels are refused with 400 naming the field",
          arguments: ["web\nssh_authorized_keys: [x]", "a:b", "x#y", "\"q\"", "ünï", "-web", "web-", "a b", String(repeating: "a", count: 64), " "])
    func hostileNames(name: String) async throws {
        try await ControlPlaneHarness.withFleet { harness, fleet in
            let refused = await Self.failure {
                _ = try await fleet.tenantClient.applyPlan(ApplyPlanRequest(siteId: fleet.site.id, idempotencyKey: "n", actions: [
                    .init(operation: .create, name: name),
                ]))
            }
            #expect(refused?.status == 400)
            #expect(refused?.body.contains("actions[0].name") == true, "\(refused?.description ?? "accepted")")
            let ok = try await fleet.tenantClient.applyPlan(ApplyPlanRequest(siteId: fleet.site.id, idempotencyKey: "ok", actions: [
                .init(operation: .create, name: "Web-01"),
            ]))
            #expect(ok.executions.count == 1)
        }
    }

    static let oversizedVMs: [(vcpus: Int32, memory: Int64)] = [
        (1025, 512), (1, MicroVMLimits.maximumMemoryMiB + 1), (1, 1_024_000_000_000_000),
    ]

    @Test("a CREATE past the VM limits is refused with 400; the limits themselves are accepted",
          arguments: Self.oversizedVMs)
    func vmLimits(vcpus: Int32, memory: Int64) async throws {
        try await ControlPlaneHarness.withFleet { harness, fleet in
            let refused = await Self.failure {
                _ = try await fleet.tenantClient.applyPlan(ApplyPlanRequest(siteId: fleet.site.id, idempotencyKey: "big", actions: [
                    .init(operation: .create, vcpuCount: vcpus, memoryMib: memory),
                ]))
            }
            #expect(refused?.status == 400 && refused?.body.contains("actions[0]") == true, "\(refused?.description ?? "accepted")")
            let ok = try await fleet.tenantClient.applyPlan(ApplyPlanRequest(siteId: fleet.site.id, idempotencyKey: "max", actions: [
                .init(operation: .create, vcpuCount: MicroVMLimits.maximumVCPUs, memoryMib: MicroVMLimits.maximumMemoryMiB),
            ]))
            #expect(ok.executions.count == 1)
        }
    }

    @Test("a retired host's certificate is refused, its plans move on, and its hostname enrolls again", arguments: ControlPlaneHarness.Backend.enabled)
    func retireHost(backend: ControlPlaneHarness.Backend) async throws {
        try await ControlPlaneHarness.withFleet(backend) { harness, fleet in
            let old = try await fleet.enrollAgent(hostname: "edge-1")
            let other = try await fleet.enrollAgent(hostname: "edge-2")
            _ = try await fleet.tenantClient.applyPlan(ApplyPlanRequest(siteId: fleet.site.id, idempotencyKey: "k", actions: [.init(operation: .create)]))
            let held = try #require(try await old.client.heartbeat(HeartbeatRequest()).pendingPlans.first)
            let stranger = try await Fleet.create(harness, slug: "other")
            let foreign = await Self.failure {
                _ = try await stranger.tenantClient.retireHost(RetireHostRequest(siteId: fleet.site.id, hostId: old.response.hostId))
            }
            #expect(foreign?.status == 404)
            let retired = try await fleet.tenantClient.retireHost(RetireHostRequest(siteId: fleet.site.id, hostId: old.response.hostId))
            #expect(retired.agentId == old.id && retired.releasedPlans == 1)
            let refused = await Self.failure { _ = try await old.client.heartbeat(HeartbeatRequest()) }
            #expect(refused?.status == 401 && refused?.body.contains("agent retired") == true, "\(refused?.description ?? "accepted")")
            let logs = await Self.failure { _ = try await old.client.nextPlans(NextPlansRequest()) }
            #expect(logs?.status == 401)
            let again = await Self.failure {
                _ = try await fleet.tenantClient.retireHost(RetireHostRequest(siteId: fleet.site.id, hostId: old.response.hostId))
            }
            #expect(again?.status == 404)
            let moved = try #require(try await other.client.heartbeat(HeartbeatRequest()).pendingPlans.first)
            #expect(moved.planId == held.planId && moved.leaseToken == 2)
            let reenrolled = try await fleet.enrollAgent(hostname: "edge-1")
            #expect(reenrolled.response.hostId != old.response.hostId)
            let hosts = try await fleet.tenantClient.listHosts(ListHostsRequest(siteId: fleet.site.id)).hosts
            #expect(hosts.map(\.hostname) == ["edge-1", "edge-2"])
            #expect(hosts.first?.id == reenrolled.response.hostId)
            let audit = try await harness.store.statistics()
            #expect(audit.agentsByState["ONLINE"] == 2)
        }
    }

    @Test("repeated failed authentication: 429 with Retry-After past the budget, one aggregated audit event, the budget returns")
    func failureBudget() async throws {
        try await ControlPlaneHarness.withFleet(.sqlite, {
            $0.authFailureLimit = 5
            $0.authFailureWindow = .seconds(3)
        }) { harness, fleet in
            let client = try harness.client()
            var statuses: [Int] = []
            var retryAfter: String?
            for _ in 0..<12 {
                let response = try await harness.send(client, .GET, "/tenants/\(fleet.tenant.id)/sites", headers: [("X-API-Key", "nk_wrong")])
                statuses.append(response.status)
                if response.status == 429 { retryAfter = response.headers.first(name: "Retry-After") }
            }
            #expect(statuses == Array(repeating: 401, count: 5) + Array(repeating: 429, count: 7))
            #expect(retryAfter.flatMap(Int.init).map { (1...3).contains($0) } == true, "Retry-After: \(retryAfter ?? "none")")
            // The enrollment token is a credential too.
            let token = try await harness.send(client, .POST, "/v1/enroll", body: Array(#"{"enrollment_token":"x","hostname":"h","csr_pem":"x"}"#.utf8),
                                               headers: [("Content-Type", "application/json")])
            #expect(token.status == 429)
            try await Task.sleep(for: .seconds(4))
            let later = try await harness.send(client, .GET, "/tenants/\(fleet.tenant.id)/sites", headers: [("X-API-Key", fleet.apiKey)])
            #expect(later.status == 200, "the budget returns after the window")
            let events = try await harness.store.rows(
                "SELECT metadata_json FROM audit_events WHERE action = 'auth.failure' AND resource_id = 'nkudo.v1.TenantService/ListSites'")
            #expect(events.count == 1, "five failures, one event")
            let deadline = Date().addingTimeInterval(10)
            var metadata = ""
            while Date() < deadline, !metadata.contains("\"count\":5") {
                metadata = try await harness.store.rows("SELECT metadata_json FROM audit_events WHERE action = 'auth.failure'").first?.text("metadata_json") ?? ""
                try await Task.sleep(for: .milliseconds(200))
            }
            #expect(metadata == #"{"count":5,"reason":"invalid api key"}"#)
        }
    }

    @Test("a data directory open to other users is narrowed to 0700 when the control plane opens it")
    func dataDirectoryIsNarrowed() async throws {
        let directory = FileManager.default.temporaryDirectory.appending(path: "nkudo-perm-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var configuration = ControlPlaneConfiguration()
        configuration.dataDirectory = directory
        let (store, _) = try ControlPlane.openStore(configuration, logger: Logger(label: "test"))
        await store.close()
        #expect(try FileManager.default.attributesOfItem(atPath: directory)[.posixPermissions] as? Int == 0o700)
    }

    @Test("narrowing keeps the owner's own bits (0555 is not made writable), and a path under a file names that file")
    func dataDirectoryOwnerBitsAndBadParent() throws {
        let directory = FileManager.default.temporaryDirectory.appending(path: "nkudo-perm-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o555])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try DataDirectory.prepare(directory, logger: Logger(label: "test"))
        #expect(try FileManager.default.attributesOfItem(atPath: directory)[.posixPermissions] as? Int == 0o500)

        let file = directory + ".file"
        try #require(FileManager.default.createFile(atPath: file, contents: Data()))
        defer { try? FileManager.default.removeItem(atPath: file) }
        let error = #expect(throws: ConfigurationError.self) { try DataDirectory.prepare(file + "/data/sub", logger: Logger(label: "test")) }
        #expect(error?.description.contains("\(file) is not a directory") == true, "\(error?.description ?? "")")
    }
}

extension Store {
    /// The rows of a query the store offers no API for (tests only).
    func rows(_ sql: String) async throws -> [SQLRow] {
        guard let store = self as? SQLStore else { throw HarnessError("not an SQLStore") }
        return try await store.database.withConnection { connection throws(StoreError) in
            try connection.query(SQLStatement(raw: sql))
        }
    }
}
