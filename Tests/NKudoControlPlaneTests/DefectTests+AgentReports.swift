import ControlPlaneTestSupport
import Foundation
import NIOHTTP1
import NKudoContract
@testable import NKudoControlPlane
import NKudoStore
import Testing

extension DefectTests {
    /// What agents report: heartbeats, results, VM states, and where they send them.
    @Suite("heartbeats and results")
    struct AgentReports {
        @Test("defect 13: results may carry execution_id and started_at per action")
        func defect13() async throws {
            try await ControlPlaneHarness.withFleet { harness, fleet in
                let agent = try await fleet.enrollAgent()
                _ = try await fleet.tenantClient.applyPlan(ApplyPlanRequest(siteId: fleet.site.id, idempotencyKey: "k", actions: [.init(operation: .create)]))
                let plan = try #require(try await agent.client.heartbeat(HeartbeatRequest()).pendingPlans.first)
                let response = try await agent.client.reportExecutionResult(ReportExecutionResultRequest(
                    executionId: plan.executionId,
                    results: [.init(executionId: plan.actions[0].executionId, actionId: plan.actions[0].actionId, ok: true, message: "ok",
                                    startedAt: Date().protoTimestamp, finishedAt: Date().protoTimestamp)]))
                #expect(response.status == "accepted")
            }
        }

        @Test("defect 16 and 26: agent VM states map to control-plane states; cloud_hypervisor_available is never inferred from KVM")
        func defect16And26() {
            #expect(HeartbeatNormalizer.vmState("created") == .stopped)
            #expect(HeartbeatNormalizer.vmState("deleted") == .deleted)
            #expect(HeartbeatNormalizer.vmState("running") == .running)
            let ingest = HeartbeatNormalizer.normalize(HeartbeatRequest(kvmAvailable: true), agentID: "a", now: Date())
            #expect(ingest.kvmAvailable)
            #expect(!ingest.cloudHypervisorAvailable)
        }

        @Test("defect 18: heartbeat_endpoint is the Heartbeat RPC's path, relative to the base URL the agent enrolled with, and it works")
        func defect18() async throws {
            try await ControlPlaneHarness.withFleet { harness, fleet in
                let agent = try await fleet.enrollAgent()
                #expect(agent.response.heartbeatEndpoint == AgentService.Method.heartbeat.bindings[0].path)
                #expect(agent.response.heartbeatEndpoint.hasPrefix("/"))
                let client = try harness.client(certificatePEM: agent.response.clientCertificatePem, keyPEM: agent.keyPEM)
                let response = try await harness.send(client, .POST, agent.response.heartbeatEndpoint, body: Array("{}".utf8),
                                                      headers: [("Content-Type", "application/json")])
                #expect(response.status == 200)
            }
        }
    }
}
