import Foundation
import NKudoContract
import Testing

@testable import NKudoStore
import NKudoSQL
import SQLTestSupport

// Leasing plans and recording results.
extension StoreTests {
    @Test("defect 15: each leased action carries its own execution id; the plan becomes IN_PROGRESS", arguments: testedDialects)
    func leasedActionsCarryExecutionIDs(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let world = try await fixture.world()
            let vmID = StoreFixture.id()
            let plan = fixture.plan(world, [StoreFixture.action(.create, vm: vmID, name: "web", operationID: "c"), StoreFixture.action(.start, vm: vmID, operationID: "s")])
            _ = try await fixture.store.applyPlan(plan, now: StoreFixture.t0)
            let leased = try await fixture.store.leasePlans(agentID: world.agent.agentID, lease: LeaseOptions(limit: 5, ttl: 30), now: StoreFixture.at(1))
            let lease = try #require(leased.first)
            #expect(leased.count == 1)
            #expect(lease.planID == plan.planID)
            #expect(lease.leaseExpiresAt == StoreFixture.at(31))
            #expect(lease.actions == [
                LeasedPlanRecord.Action(executionID: plan.executionIDs[0], operationID: "c", operation: .create, vmID: vmID, name: "web", vcpuCount: 2, memoryMiB: 512,
                                        payloadJSON: plan.actions[0].payloadJSON),
                LeasedPlanRecord.Action(executionID: plan.executionIDs[1], operationID: "s", operation: .start, vmID: vmID, name: "", vcpuCount: 0, memoryMiB: 0,
                                        payloadJSON: plan.actions[1].payloadJSON),
            ])
            let replay = try await fixture.store.applyPlan(plan, now: StoreFixture.at(2))
            #expect(replay.status == .inProgress)
        }
    }

    @Test("defect 23: a leased plan is not re-sent to its holder nor given to another agent until the lease expires", arguments: testedDialects)
    func leaseIsExclusiveUntilExpiry(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let world = try await fixture.world()
            let second = try await fixture.agent(tenantID: world.tenantID, siteID: world.siteID)
            let applied = try await fixture.apply(world, [StoreFixture.action(.create, vm: StoreFixture.id())])
            let lease = LeaseOptions(limit: 1, ttl: 30)
            let first = world.agent.agentID
            #expect(try await fixture.store.leasePlans(agentID: first, lease: lease, now: StoreFixture.at(0)).map(\.planID) == [applied.planID])
            #expect(try await fixture.store.leasePlans(agentID: first, lease: lease, now: StoreFixture.at(1)).isEmpty)
            #expect(try await fixture.store.leasePlans(agentID: second.agentID, lease: lease, now: StoreFixture.at(29)).isEmpty)
            #expect(try await fixture.store.leasePlans(agentID: second.agentID, lease: lease, now: StoreFixture.at(30)).map(\.planID) == [applied.planID])
            #expect(try await fixture.store.leasePlans(agentID: first, lease: lease, now: StoreFixture.at(31)).isEmpty)
            // The same agent may take its own expired lease again.
            #expect(try await fixture.store.leasePlans(agentID: second.agentID, lease: lease, now: StoreFixture.at(61)).map(\.planID) == [applied.planID])
        }
    }

    @Test("leasing takes plans oldest first, at most the limit, only of the agent's site", arguments: testedDialects)
    func leaseOrderLimitAndScope(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let world = try await fixture.world()
            var planIDs: [String] = []
            for _ in 0..<3 {
                planIDs.append(try await fixture.apply(world, [StoreFixture.action(.create, vm: StoreFixture.id())]).planID)
            }
            let other = try await fixture.world()
            _ = try await fixture.apply(other, [StoreFixture.action(.create, vm: StoreFixture.id())])
            let agent = world.agent.agentID
            #expect(try await fixture.store.leasePlans(agentID: agent, lease: LeaseOptions(limit: 2, ttl: 30), now: StoreFixture.t0).map(\.planID) == Array(planIDs[0..<2]))
            #expect(try await fixture.store.leasePlans(agentID: agent, lease: LeaseOptions(limit: 0, ttl: 0), now: StoreFixture.t0).map(\.planID) == [planIDs[2]])
            #expect(try await fixture.store.leasePlans(agentID: agent, lease: LeaseOptions(limit: 5, ttl: 30), now: StoreFixture.t0).isEmpty)
        }
    }

    @Test("defect 23: plans without deliverable actions are not leased", arguments: testedDialects)
    func plansWithoutDeliverableActionsAreNotLeased(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let world = try await fixture.world()
            let applied = try await fixture.apply(world, [StoreFixture.action(.create, vm: StoreFixture.id())])
            try await fixture.execute("UPDATE executions SET state = 'SUCCEEDED' WHERE plan_id = $1", [.text(applied.planID)])
            #expect(try await fixture.store.leasePlans(agentID: world.agent.agentID, lease: StoreFixture.lease, now: StoreFixture.t0).isEmpty)
            let plan = try await fixture.rows("SELECT status, lease_agent_id FROM plans WHERE id = $1", [.text(applied.planID)])
            #expect(try plan.first?.text("status") == "PENDING")
            #expect(plan.first?["lease_agent_id"] == .null)
        }
    }

    @Test("defects 1 and 3: results move the VM (CREATE → STOPPED, START → RUNNING, STOP → STOPPED) and the plan to SUCCEEDED", arguments: testedDialects)
    func resultsRollUpAndMoveVMs(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let world = try await fixture.world()
            let agent = world.agent.agentID
            let vmID = StoreFixture.id()
            let plan = fixture.plan(world, [
                StoreFixture.action(.create, vm: vmID, operationID: "c"), StoreFixture.action(.start, vm: vmID, operationID: "s"),
                StoreFixture.action(.stop, vm: vmID, operationID: "t"),
            ])
            _ = try await fixture.store.applyPlan(plan, now: StoreFixture.t0)
            _ = try await fixture.store.leasePlans(agentID: agent, lease: StoreFixture.lease, now: StoreFixture.at(1))

            let afterCreate = try await fixture.store.reportResults(
                ResultReport(agentID: agent, planID: plan.planID, results: [StoreFixture.result("c", ok: true, at: StoreFixture.at(2))]), now: StoreFixture.at(2)
            )
            #expect(afterCreate == .inProgress)
            #expect(try await fixture.microVM(vmID, world: world)?.state == .stopped)
            let afterStart = try await fixture.store.reportResults(
                ResultReport(agentID: agent, planID: plan.planID, results: [StoreFixture.result("s", ok: true, at: StoreFixture.at(3)), StoreFixture.result(" ", ok: false, at: StoreFixture.at(3)), StoreFixture.result("unknown", ok: false, at: StoreFixture.at(3))]),
                now: StoreFixture.at(3)
            )
            #expect(afterStart == .inProgress)
            let running = try #require(try await fixture.microVM(vmID, world: world))
            #expect(running.state == .running && running.hostId == world.agent.hostID)
            #expect(running.lastTransitionAt == ProtoTimestamp(date: StoreFixture.at(3)))
            let done = try await fixture.store.reportResults(
                ResultReport(agentID: agent, planID: plan.planID, results: [StoreFixture.result("t", ok: true, at: StoreFixture.at(4))]), now: StoreFixture.at(4)
            )
            #expect(done == .succeeded)
            #expect(try await fixture.microVM(vmID, world: world)?.state == .stopped)

            let executions = try await fixture.store.recentExecutions(tenantID: world.tenantID, siteID: world.siteID, limit: 10)
            #expect(executions.map(\.state) == [.succeeded, .succeeded, .succeeded])
            let create = try #require(try await fixture.store.execution(id: plan.executionIDs[0], tenantID: world.tenantID))
            #expect(create.hostId == world.agent.hostID && create.agentId == agent)
            #expect(create.startedAt == ProtoTimestamp(date: StoreFixture.at(2)) && create.completedAt == ProtoTimestamp(date: StoreFixture.at(2)))
            #expect(create.errorCode == nil && create.errorMessage == nil)
            let stored = try await fixture.rows("SELECT completed_at, lease_agent_id FROM plans WHERE id = $1", [.text(plan.planID)])
            #expect(try stored.first?.date("completed_at") == StoreFixture.at(4))
            #expect(stored.first?["lease_agent_id"] == .null)
            #expect(try await fixture.transitions(of: vmID) == ["CREATING→STOPPED", "STOPPED→RUNNING", "RUNNING→STOPPED"])
        }
    }

    @Test("defect 4: a successful DELETE keeps the VM row in the terminal state DELETED", arguments: testedDialects)
    func deleteLeavesADeletedRow(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let world = try await fixture.world()
            let agent = world.agent.agentID
            let vmID = StoreFixture.id()
            _ = try await fixture.apply(world, [StoreFixture.action(.create, vm: vmID, name: "doomed")])
            let plan = fixture.plan(world, [StoreFixture.action(.delete, vm: vmID, operationID: "d")])
            _ = try await fixture.store.applyPlan(plan, now: StoreFixture.at(1))
            try await fixture.execute("UPDATE plans SET status = 'SUCCEEDED' WHERE id <> $1", [.text(plan.planID)])
            _ = try await fixture.store.leasePlans(agentID: agent, lease: StoreFixture.lease, now: StoreFixture.at(2))
            let status = try await fixture.store.reportResults(
                ResultReport(agentID: agent, planID: plan.planID, results: [StoreFixture.result("d", ok: true, at: StoreFixture.at(3))]), now: StoreFixture.at(3)
            )
            #expect(status == .succeeded)
            let vm = try #require(try await fixture.microVM(vmID, world: world))
            #expect(vm.state == .deleted)
            // DELETED is terminal for heartbeats, and the name is free again.
            _ = try await fixture.store.ingestHeartbeat(fixture.heartbeat(agent, vms: [StoreFixture.vm(vmID, .running)]), lease: StoreFixture.lease, now: StoreFixture.at(4))
            #expect(try await fixture.microVM(vmID, world: world)?.state == .deleted)
            _ = try await fixture.apply(world, [StoreFixture.action(.create, vm: StoreFixture.id(), name: "doomed")], at: StoreFixture.at(5))
            #expect(await storeError { try await fixture.apply(world, [StoreFixture.action(.start, vm: vmID)]) }?.code == .invalid)
        }
    }

    @Test("defect 24: a failed action cancels the remaining PENDING executions and fails the plan; the VM goes to ERROR", arguments: testedDialects)
    func failureCancelsTheRest(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let world = try await fixture.world()
            let agent = world.agent.agentID
            let vmID = StoreFixture.id()
            let plan = fixture.plan(world, [
                StoreFixture.action(.create, vm: vmID, operationID: "c"), StoreFixture.action(.start, vm: vmID, operationID: "s"),
                StoreFixture.action(.stop, vm: vmID, operationID: "t"),
            ])
            _ = try await fixture.store.applyPlan(plan, now: StoreFixture.t0)
            _ = try await fixture.store.leasePlans(agentID: agent, lease: StoreFixture.lease, now: StoreFixture.at(1))
            let status = try await fixture.store.reportResults(
                ResultReport(agentID: agent, planID: plan.planID, results: [StoreFixture.result("c", ok: false, at: StoreFixture.at(2))]), now: StoreFixture.at(2)
            )
            #expect(status == .failed)
            let executions = try await fixture.store.applyPlan(plan, now: StoreFixture.at(3)).executions
            #expect(executions.map(\.state) == [.failed, .cancelled, .cancelled])
            #expect(executions[0].errorCode == "ACTION_FAILED" && executions[0].errorMessage == "action failed")
            #expect(try await fixture.microVM(vmID, world: world)?.state == .error)
            #expect(try await fixture.store.leasePlans(agentID: agent, lease: StoreFixture.lease, now: StoreFixture.at(100)).isEmpty)
        }
    }

    @Test("a failure keeps the agent's error code and message", arguments: testedDialects)
    func failureKeepsErrorDetails(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let world = try await fixture.world()
            let vmID = StoreFixture.id()
            let plan = fixture.plan(world, [StoreFixture.action(.create, vm: vmID, operationID: "c")])
            _ = try await fixture.store.applyPlan(plan, now: StoreFixture.t0)
            _ = try await fixture.store.leasePlans(agentID: world.agent.agentID, lease: StoreFixture.lease, now: StoreFixture.t0)
            _ = try await fixture.store.reportResults(
                ResultReport(agentID: world.agent.agentID, planID: plan.planID, results: [StoreFixture.result("c", ok: false, at: StoreFixture.at(1), code: "NO_KVM", message: "kvm missing")]),
                now: StoreFixture.at(1)
            )
            let execution = try #require(try await fixture.store.execution(id: plan.executionIDs[0], tenantID: world.tenantID))
            #expect(execution.state == .failed && execution.errorCode == "NO_KVM" && execution.errorMessage == "kvm missing")
        }
    }

    @Test("defect 23 and issue 11: results from an agent that does not hold the lease are .leaseLost; plans of other sites are .notFound", arguments: testedDialects)
    func resultsNeedTheLease(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let world = try await fixture.world()
            let second = try await fixture.agent(tenantID: world.tenantID, siteID: world.siteID)
            let plan = fixture.plan(world, [StoreFixture.action(.create, vm: StoreFixture.id(), operationID: "c")])
            _ = try await fixture.store.applyPlan(plan, now: StoreFixture.t0)
            let report = { (agentID: String) in
                ResultReport(agentID: agentID, planID: plan.planID, results: [StoreFixture.result("c", ok: true, at: StoreFixture.at(5))])
            }
            // Not leased at all.
            #expect(await storeError { try await fixture.store.reportResults(report(world.agent.agentID), now: StoreFixture.at(1)) }?.code == .leaseLost)
            _ = try await fixture.store.leasePlans(agentID: world.agent.agentID, lease: LeaseOptions(limit: 1, ttl: 30), now: StoreFixture.at(1))
            #expect(await storeError { try await fixture.store.reportResults(report(second.agentID), now: StoreFixture.at(2)) }?.code == .leaseLost)
            // The lease expires and the second agent takes the plan: the first may no longer report.
            _ = try await fixture.store.leasePlans(agentID: second.agentID, lease: LeaseOptions(limit: 1, ttl: 30), now: StoreFixture.at(40))
            #expect(await storeError { try await fixture.store.reportResults(report(world.agent.agentID), now: StoreFixture.at(41)) }?.code == .leaseLost)
            #expect(try await fixture.store.reportResults(report(second.agentID), now: StoreFixture.at(42)) == .succeeded)

            let stranger = try await fixture.world()
            #expect(await storeError { try await fixture.store.reportResults(report(stranger.agent.agentID), now: StoreFixture.at(43)) }?.code == .notFound)
        }
    }

    @Test("the holder of an expired lease nobody took may still report", arguments: testedDialects)
    func expiredButUntakenLeaseMayReport(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let world = try await fixture.world()
            let plan = fixture.plan(world, [StoreFixture.action(.create, vm: StoreFixture.id(), operationID: "c")])
            _ = try await fixture.store.applyPlan(plan, now: StoreFixture.t0)
            _ = try await fixture.store.leasePlans(agentID: world.agent.agentID, lease: LeaseOptions(limit: 1, ttl: 30), now: StoreFixture.t0)
            let report = ResultReport(agentID: world.agent.agentID, planID: plan.planID, results: [StoreFixture.result("c", ok: true, at: StoreFixture.at(100))])
            #expect(try await fixture.store.reportResults(report, now: StoreFixture.at(100)) == .succeeded)
        }
    }

    @Test("results the holder repeats for a plan it finished are ignored and its status returned; anyone else's are refused", arguments: testedDialects)
    func resultsForTerminalPlansAreIgnored(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let world = try await fixture.world()
            let vmID = StoreFixture.id()
            let plan = fixture.plan(world, [StoreFixture.action(.create, vm: vmID, operationID: "c")])
            _ = try await fixture.store.applyPlan(plan, now: StoreFixture.t0)
            _ = try await fixture.store.leasePlans(agentID: world.agent.agentID, lease: StoreFixture.lease, now: StoreFixture.t0)
            let ok = ResultReport(agentID: world.agent.agentID, planID: plan.planID, results: [StoreFixture.result("c", ok: true, at: StoreFixture.at(1))])
            #expect(try await fixture.store.reportResults(ok, now: StoreFixture.at(1)) == .succeeded)
            let flip = ResultReport(agentID: world.agent.agentID, planID: plan.planID, results: [StoreFixture.result("c", ok: false, at: StoreFixture.at(2))])
            #expect(try await fixture.store.reportResults(flip, now: StoreFixture.at(2)) == .succeeded)
            let second = try await fixture.agent(tenantID: world.tenantID, siteID: world.siteID)
            let late = ResultReport(agentID: second.agentID, planID: plan.planID, results: [StoreFixture.result("c", ok: false, at: StoreFixture.at(3))])
            #expect(await storeError { try await fixture.store.reportResults(late, now: StoreFixture.at(3)) }?.code == .leaseLost)
            #expect(try await fixture.store.execution(id: plan.executionIDs[0], tenantID: world.tenantID)?.state == .succeeded)
            #expect(try await fixture.microVM(vmID, world: world)?.state == .stopped)
        }
    }

    @Test("two stores on two pools lease 100 plans to 10 agents concurrently: every plan to exactly one agent", arguments: testedDialects)
    func concurrentLeasingAcrossReplicas(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let world = try await fixture.world()
            var agents = [world.agent.agentID]
            for _ in 1..<10 {
                agents.append(try await fixture.agent(tenantID: world.tenantID, siteID: world.siteID).agentID)
            }
            for _ in 0..<100 {
                _ = try await fixture.apply(world, [StoreFixture.action(.create, vm: StoreFixture.id())])
            }
            let replica = try fixture.storage.open(maxConnections: 5)
            let stores = [fixture.store, SQLStore(database: replica, logger: silentLogger)]
            let leases = try await withThrowingTaskGroup(of: [(agent: String, plan: String)].self) { group in
                for (index, agent) in agents.enumerated() {
                    let store = stores[index % 2]
                    group.addTask {
                        var taken: [(agent: String, plan: String)] = []
                        while true {
                            let batch = try await store.leasePlans(agentID: agent, lease: LeaseOptions(limit: 3, ttl: 600), now: StoreFixture.at(1))
                            if batch.isEmpty { return taken }
                            taken += batch.map { (agent, $0.planID) }
                        }
                    }
                }
                return try await group.reduce(into: [(agent: String, plan: String)]()) { $0 += $1 }
            }
            await replica.close()
            #expect(leases.count == 100)
            #expect(Set(leases.map(\.plan)).count == 100)
            let holders = try await fixture.rows("SELECT id, lease_agent_id FROM plans")
            let stored = Dictionary(uniqueKeysWithValues: try holders.map { (try $0.text("id"), try $0.optionalText("lease_agent_id")) })
            for lease in leases {
                #expect(stored[lease.plan] == lease.agent)
            }
            #expect(Set(leases.map(\.agent)).count > 1)
        }
    }
}
