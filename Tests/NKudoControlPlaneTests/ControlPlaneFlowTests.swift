import ControlPlaneTestSupport
import Foundation
import NIOHTTP1
import NKudoStore
import NKudoContract
@testable import NKudoControlPlane
import NKudoPKI
import Testing

/// The original's mandatory suites over real HTTPS with real client certificates, in
/// JSON and binary, against every store.
@Suite("Control plane flows", .serialized)
struct ControlPlaneFlowTests {
    static let matrix: [(ControlPlaneHarness.Backend, WireFormat)] = ControlPlaneHarness.Backend.enabled.flatMap { backend in
        [(backend, WireFormat.json), (backend, .binary)]
    }

    @Test("enroll and heartbeat", arguments: matrix)
    func enrollAndHeartbeat(backend: ControlPlaneHarness.Backend, format: WireFormat) async throws {
        let harness = try await ControlPlaneHarness(backend: backend)
        do {
            let fleet = try await Fleet.create(harness, format: format)
            let agent = try await fleet.enrollAgent(hostname: "zrh-edge-01")
            #expect(agent.response.siteId == fleet.site.id)
            #expect(agent.caFingerprint == harness.pki.caFingerprint)
            let certificate = try Certificate(pem: agent.response.clientCertificatePem)
            #expect(certificate.commonName == agent.id)
            #expect(certificate.isIssued(by: harness.pki.authority.certificate))
            let response = try await agent.client.heartbeat(HeartbeatRequest(
                heartbeatSeq: 1, cpuCoresTotal: 8, memoryBytesTotal: 16 << 30, storageBytesTotal: 500 << 30, kvmAvailable: true,
                cloudHypervisorAvailable: true))
            #expect(response.nextHeartbeatSeconds == 15)
            #expect(response.pendingPlans.isEmpty)
            let hosts = try await fleet.tenantClient.listHosts(ListHostsRequest(siteId: fleet.site.id)).hosts
            #expect(hosts.count == 1)
            #expect(hosts.first?.hostname == "zrh-edge-01")
            #expect(hosts.first?.cpuCoresTotal == 8)
            #expect(hosts.first?.kvmAvailable == true)
            #expect(hosts.first?.agentState == .online)
        } catch {
            await harness.shutdown()
            throw error
        }
        await harness.shutdown()
    }

    @Test("create, start, stop, delete plan", arguments: matrix)
    func lifecyclePlan(backend: ControlPlaneHarness.Backend, format: WireFormat) async throws {
        let harness = try await ControlPlaneHarness(backend: backend)
        do {
            let fleet = try await Fleet.create(harness, format: format)
            let agent = try await fleet.enrollAgent()
            let vmID = UUID().uuidString.lowercased()
            for (index, operation) in [Execution.Operation.create, .start, .stop, .delete].enumerated() {
                let applied = try await fleet.tenantClient.applyPlan(ApplyPlanRequest(
                    siteId: fleet.site.id, idempotencyKey: "step-\(index)",
                    actions: [ApplyPlanRequest.Action(operation: operation, vmId: vmID, name: "web-1", vcpuCount: 2, memoryMib: 512)]))
                #expect(applied.planStatus == .pending)
                #expect(applied.executions.count == 1)
                let leased = try await agent.client.heartbeat(HeartbeatRequest(heartbeatSeq: Int64(index + 1))).pendingPlans
                let plan = try #require(leased.first)
                #expect(plan.planId == applied.planId)
                #expect(plan.actions.first?.executionId == applied.executions.first?.id)
                let result = try await agent.client.reportExecutionResult(ReportExecutionResultRequest(
                    planId: plan.planId, executionId: plan.executionId,
                    results: [.init(actionId: plan.actions[0].actionId, ok: true, message: "ok")]))
                #expect(result.planStatus == .succeeded)
                let vm = try #require(try await fleet.tenantClient.listMicroVMs(ListMicroVMsRequest(siteId: fleet.site.id)).vms.first)
                let expected: [MicroVM.State] = [.stopped, .running, .stopped, .deleted]
                #expect(vm.state == expected[index])
            }
        } catch {
            await harness.shutdown()
            throw error
        }
        await harness.shutdown()
    }

    @Test("plan idempotency", arguments: matrix)
    func planIdempotency(backend: ControlPlaneHarness.Backend, format: WireFormat) async throws {
        let harness = try await ControlPlaneHarness(backend: backend)
        do {
            let fleet = try await Fleet.create(harness, format: format)
            let request = ApplyPlanRequest(siteId: fleet.site.id, idempotencyKey: "deploy-42",
                                           actions: [.init(operation: .create, name: "db", vcpuCount: 1, memoryMib: 256)])
            let first = try await fleet.tenantClient.applyPlan(request)
            let again = try await fleet.tenantClient.applyPlan(request)
            #expect(!first.deduplicated)
            #expect(again.deduplicated)
            #expect(again.planId == first.planId)
            var different = request
            different.actions[0].name = "other"
            await #expect(throws: TestTransport.Failure.self) { try await fleet.tenantClient.applyPlan(different) }
            do {
                _ = try await fleet.tenantClient.applyPlan(different)
            } catch let failure as TestTransport.Failure {
                #expect(failure.status == 409)
            }
        } catch {
            await harness.shutdown()
            throw error
        }
        await harness.shutdown()
    }

    @Test("cross-tenant isolation", arguments: matrix)
    func crossTenant(backend: ControlPlaneHarness.Backend, format: WireFormat) async throws {
        let harness = try await ControlPlaneHarness(backend: backend)
        do {
            let a = try await Fleet.create(harness, format: format, slug: "tenant-a")
            let b = try await Fleet.create(harness, format: format, slug: "tenant-b")
            let statuses = await [
                Self.status { try await b.tenantClient.listHosts(ListHostsRequest(siteId: a.site.id)) },
                Self.status { try await b.tenantClient.listMicroVMs(ListMicroVMsRequest(siteId: a.site.id)) },
                Self.status { try await b.tenantClient.getStatus(GetStatusRequest(siteId: a.site.id)) },
                Self.status { try await b.tenantClient.applyPlan(ApplyPlanRequest(siteId: a.site.id, idempotencyKey: "x", actions: [.init(operation: .create)])) },
                Self.status { try await b.tenantClient.listSites(ListSitesRequest(tenantId: a.tenant.id)) },
                Self.status { try await b.tenantClient.createSite(CreateSiteRequest(tenantId: a.tenant.id, name: "intruder")) },
                Self.status { try await b.tenantClient.issueEnrollmentToken(IssueEnrollmentTokenRequest(tenantId: b.tenant.id, siteId: a.site.id)) },
            ]
            #expect(statuses == [404, 404, 404, 404, 403, 403, 404])
        } catch {
            await harness.shutdown()
            throw error
        }
        await harness.shutdown()
    }

    @Test("execution log streaming", arguments: matrix)
    func logStreaming(backend: ControlPlaneHarness.Backend, format: WireFormat) async throws {
        let harness = try await ControlPlaneHarness(backend: backend)
        do {
            let fleet = try await Fleet.create(harness, format: format)
            let agent = try await fleet.enrollAgent()
            let applied = try await fleet.tenantClient.applyPlan(ApplyPlanRequest(
                siteId: fleet.site.id, idempotencyKey: "logs", actions: [.init(operation: .create, name: "vm")]))
            let executionID = try #require(applied.executions.first?.id)
            // The agent holds the plan's lease (issue 11: only the holder's lines are kept).
            #expect(try await agent.client.heartbeat(HeartbeatRequest()).pendingPlans.map(\.planId) == [applied.planId])
            let now = Date()
            let ingest = try await agent.client.ingestLogs(IngestLogsRequest(entries: [
                .init(executionId: executionID, sequence: 1, severity: "INFO", message: "first", emittedAt: now.protoTimestamp),
                .init(executionId: executionID, sequence: 2, severity: "warning", message: "second", emittedAt: now.addingTimeInterval(1).protoTimestamp),
                .init(executionId: executionID, sequence: 2, severity: "warning", message: "second", emittedAt: now.addingTimeInterval(1).protoTimestamp),
            ]))
            #expect(ingest.acceptedFrames == 2)
            #expect(ingest.droppedFrames == 1)
            let frame = try await agent.client.ingestLogFrame(IngestLogFrameRequest(executionId: executionID, sequence: 1, level: "ERROR",
                                                                                    message: "after restart", emittedAt: now.addingTimeInterval(5).protoTimestamp))
            #expect(frame.acceptedFrames == 1)
            let logs = try await fleet.tenantClient.listExecutionLogs(ListExecutionLogsRequest(executionId: executionID, limit: 2))
            #expect(logs.logs.map(\.message) == ["after restart", "second"])
            #expect(logs.logs.first?.severity == .error)
            let next = try await fleet.tenantClient.listExecutionLogs(ListExecutionLogsRequest(executionId: executionID, limit: 2, cursor: try #require(logs.nextCursor)))
            #expect(next.logs.map(\.message) == ["first"])
        } catch {
            await harness.shutdown()
            throw error
        }
        await harness.shutdown()
    }

    static func status<T>(_ body: () async throws -> T) async -> Int {
        do {
            _ = try await body()
            return 200
        } catch let failure as TestTransport.Failure {
            return failure.status
        } catch {
            return -1
        }
    }
}
