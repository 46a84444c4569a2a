import ControlPlaneTestSupport
import Foundation
import NKudoContract
import NKudoControlPlane
import Testing

/// Issue 14 item 5: an agent's long poll (`NextPlans` with a wait) gets a plan as soon as
/// it is applied, through the same replica or another one. "As soon as" is checked as
/// well before the poll's wait (the suites run side by side on a loaded machine); the
/// figure itself is measured by `nkudo-loadgen --plans` (README, Performance).
@Suite("Plan long poll", .serialized)
struct PlanLongPollTests {
    /// Polls with `wait` in the background; returns the poll's plans and when it answered.
    static func poll(_ client: AgentServiceClient<TestTransport>, wait: String)
        -> Task<(plans: [LeasedPlan], answeredAt: ContinuousClock.Instant), any Error> {
        Task {
            let response = try await client.nextPlans(NextPlansRequest(wait: wait))
            return (response.plans, ContinuousClock.now)
        }
    }

    /// Applies a plan while `client` polls, and checks that the poll answers it at once.
    static func expectPlanReachesPoll(_ client: AgentServiceClient<TestTransport>, fleet: Fleet) async throws -> LeasedPlan? {
        let polling = poll(client, wait: "50s")
        try await Task.sleep(for: .milliseconds(500))
        let applied = try await fleet.tenantClient.applyPlan(ApplyPlanRequest(siteId: fleet.site.id, idempotencyKey: "k", actions: [
            .init(operation: .create, name: "web"),
        ]))
        let appliedAt = ContinuousClock.now
        let (plans, answeredAt) = try await polling.value
        #expect(plans.map(\.planId) == [applied.planId])
        #expect(appliedAt.duration(to: answeredAt) < .seconds(15), "answered \(appliedAt.duration(to: answeredAt)) after the apply")
        return plans.first
    }

    @Test("a plan applied while an agent polls reaches it at once", arguments: ControlPlaneHarness.Backend.enabled)
    func planReachesThePoll(backend: ControlPlaneHarness.Backend) async throws {
        try await ControlPlaneHarness.withFleet(backend) { harness, fleet in
            let agent = try await fleet.enrollAgent()
            let plan = try await Self.expectPlanReachesPoll(try agent.client, fleet: fleet)
            #expect(plan?.leaseToken == 1)
            // Leased to the poller: another agent does not get it.
            let other = try await fleet.enrollAgent()
            #expect(try await other.client.heartbeat(HeartbeatRequest()).pendingPlans.isEmpty)
        }
    }

    @Test("a poll without plans answers [] at the end of its wait; a ready plan is answered at once")
    func emptyAndReady() async throws {
        try await ControlPlaneHarness.withFleet { harness, fleet in
            let agent = try await fleet.enrollAgent()
            let started = ContinuousClock.now
            #expect(try await agent.client.nextPlans(NextPlansRequest(wait: "1200ms")).plans.isEmpty)
            let waited = started.duration(to: .now)
            #expect(waited >= .milliseconds(1100) && waited < .seconds(15), "\(waited)")
            _ = try await fleet.tenantClient.applyPlan(ApplyPlanRequest(siteId: fleet.site.id, idempotencyKey: "k", actions: [.init(operation: .create)]))
            let ready = ContinuousClock.now
            #expect(try await agent.client.nextPlans(NextPlansRequest(wait: "30s")).plans.count == 1)
            #expect(ready.duration(to: .now) < .seconds(15))
        }
    }

    @Test("a plan of another site or tenant does not end a poll")
    func otherSitesDoNotCount() async throws {
        try await ControlPlaneHarness.withFleet { harness, fleet in
            let agent = try await fleet.enrollAgent()
            let otherSite = try await fleet.tenantClient.createSite(CreateSiteRequest(tenantId: fleet.tenant.id, name: "other"))
            let polling = Self.poll(try agent.client, wait: "2s")
            try await Task.sleep(for: .milliseconds(300))
            _ = try await fleet.tenantClient.applyPlan(ApplyPlanRequest(siteId: otherSite.id, idempotencyKey: "k", actions: [.init(operation: .create)]))
            let (plans, _) = try await polling.value
            #expect(plans.isEmpty)
        }
    }

    @Test("malformed waits are refused with 400", arguments: ["abc", "61s", "-1s", "1x", "1.5.5s"])
    func malformedWait(wait: String) async throws {
        try await ControlPlaneHarness.withFleet { harness, fleet in
            let agent = try await fleet.enrollAgent()
            do {
                _ = try await agent.client.nextPlans(NextPlansRequest(wait: wait))
                Issue.record("accepted wait \(wait)")
            } catch let failure as TestTransport.Failure {
                #expect(failure.status == 400 && failure.body.contains("wait must be a duration"), "\(failure)")
            }
        }
    }

    @Test("PostgreSQL: a plan applied through one replica reaches a poll held by another at once")
    func acrossReplicas() async throws {
        guard ControlPlaneHarness.Backend.enabled.contains(.postgres) else { return }
        try await ControlPlaneHarness.withFleet(.postgres) { first, fleet in
            let second = try await ControlPlaneHarness(backend: .postgres) { configuration in
                configuration.databaseURL = first.configuration.databaseURL
                configuration.dataDirectory = first.configuration.dataDirectory
                configuration.adminKey = first.configuration.adminKey
            }
            do {
                let agent = try await fleet.enrollAgent()
                let client = AgentServiceClient(transport: TestTransport(
                    harness: second, client: try second.client(certificatePEM: agent.response.clientCertificatePem, keyPEM: agent.keyPEM),
                    format: .binary))
                // The replica's listener starts with its first poll; one empty poll starts it.
                _ = try await client.nextPlans(NextPlansRequest(wait: "100ms"))
                _ = try await Self.expectPlanReachesPoll(client, fleet: fleet)
            } catch {
                await second.shutdown()
                throw error
            }
            await second.shutdown()
        }
    }
}
