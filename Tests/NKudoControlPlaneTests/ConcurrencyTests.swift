import ControlPlaneTestSupport
import Foundation
import NIOHTTP1
import NKudoContract
@testable import NKudoControlPlane
import NKudoPKI
import NKudoStore
import Testing

/// Races through the real HTTP stack: one-time tokens, idempotency keys, and plan leases
/// across two control-plane processes sharing one PostgreSQL.
@Suite("Concurrency", .serialized)
struct ConcurrencyTests {
    @Test("20 parallel enrollments with one token → exactly one agent", arguments: ControlPlaneHarness.Backend.enabled)
    func parallelEnrollments(backend: ControlPlaneHarness.Backend) async throws {
        let harness = try await ControlPlaneHarness(backend: backend)
        do {
            let fleet = try await Fleet.create(harness)
            let token = try await fleet.tenantClient.issueEnrollmentToken(IssueEnrollmentTokenRequest(tenantId: fleet.tenant.id, siteId: fleet.site.id))
            let csr = try CertificateSigningRequest.create(key: try PrivateKey.generateP256(), commonName: "h").pem()
            let client = AgentServiceClient(transport: TestTransport(harness: harness, client: try harness.client()))
            let statuses = await withTaskGroup(of: Int.self) { group in
                for index in 0..<20 {
                    group.addTask {
                        await ControlPlaneFlowTests.status {
                            try await client.enroll(EnrollRequest(enrollmentToken: token.token, requestedHostname: "host-\(index)", csrPem: csr))
                        }
                    }
                }
                return await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == 200 }.count == 1)
            #expect(statuses.filter { $0 == 401 }.count == 19)
            #expect(try await fleet.tenantClient.listHosts(ListHostsRequest(siteId: fleet.site.id)).hosts.count == 1)
        } catch {
            await harness.shutdown()
            throw error
        }
        await harness.shutdown()
    }

    @Test("20 parallel applies with one idempotency key → one plan", arguments: ControlPlaneHarness.Backend.enabled)
    func parallelApplies(backend: ControlPlaneHarness.Backend) async throws {
        let harness = try await ControlPlaneHarness(backend: backend)
        do {
            let fleet = try await Fleet.create(harness)
            let client = try fleet.tenantClient
            let request = ApplyPlanRequest(siteId: fleet.site.id, idempotencyKey: "race", actions: [.init(operation: .create, name: "vm")])
            let responses = try await withThrowingTaskGroup(of: ApplyPlanResponse.self) { group in
                for _ in 0..<20 { group.addTask { try await client.applyPlan(request) } }
                return try await group.reduce(into: [ApplyPlanResponse]()) { $0.append($1) }
            }
            #expect(Set(responses.map(\.planId)).count == 1)
            #expect(responses.filter { !$0.deduplicated }.count == 1)
        } catch {
            await harness.shutdown()
            throw error
        }
        await harness.shutdown()
    }

    @Test("two control planes on one PostgreSQL lease 100 plans to 10 agents, each plan to one agent")
    func twoReplicasLeasePlans() async throws {
        guard ControlPlaneHarness.Backend.enabled.contains(.postgres) else { return }
        let first = try await ControlPlaneHarness(backend: .postgres)
        let second: ControlPlaneHarness
        do {
            second = try await ControlPlaneHarness(backend: .postgres) { configuration in
                configuration.databaseURL = first.configuration.databaseURL
                configuration.dataDirectory = first.configuration.dataDirectory
                configuration.adminKey = first.configuration.adminKey
            }
        } catch {
            await first.shutdown()
            throw error
        }
        do {
            let fleet = try await Fleet.create(first)
            var agents: [EnrolledAgent] = []
            for _ in 0..<10 { agents.append(try await fleet.enrollAgent()) }
            for index in 0..<100 {
                _ = try await fleet.tenantClient.applyPlan(ApplyPlanRequest(siteId: fleet.site.id, idempotencyKey: "plan-\(index)",
                                                                            actions: [.init(operation: .create, name: "vm-\(index)")]))
            }
            let deliveries = try await withThrowingTaskGroup(of: [(String, String)].self) { group in
                for (index, agent) in agents.enumerated() {
                    let harness = index % 2 == 0 ? first : second
                    let client = AgentServiceClient(transport: TestTransport(
                        harness: harness, client: try harness.client(certificatePEM: agent.response.clientCertificatePem, keyPEM: agent.keyPEM)))
                    group.addTask {
                        var received: [(String, String)] = []
                        for round in 0..<40 {
                            let plans = try await client.heartbeat(HeartbeatRequest(heartbeatSeq: Int64(round + 1))).pendingPlans
                            if plans.isEmpty && round > 5 { break }
                            for plan in plans {
                                received.append((plan.planId, agent.id))
                                _ = try await client.reportExecutionResult(ReportExecutionResultRequest(
                                    planId: plan.planId, results: [.init(actionId: plan.actions[0].actionId, ok: true, message: "ok")]))
                            }
                        }
                        return received
                    }
                }
                return try await group.reduce(into: [(String, String)]()) { $0 += $1 }
            }
            let agentsByPlan = Dictionary(grouping: deliveries, by: \.0).mapValues { Set($0.map(\.1)) }
            #expect(agentsByPlan.count == 100)
            #expect(agentsByPlan.values.allSatisfy { $0.count == 1 })
            #expect(deliveries.count == 100)
        } catch {
            await second.shutdown()
            await first.shutdown()
            throw error
        }
        await second.shutdown()
        await first.shutdown()
    }
}
