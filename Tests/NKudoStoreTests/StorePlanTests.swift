import Foundation
import NKudoContract
import Testing

@testable import NKudoStore
import NKudoSQL
import SQLTestSupport

// Applying plans: validation, VM upserts, order, idempotency, versions.
extension StoreTests {
    @Test("applyPlan stores a PENDING plan with one PENDING execution per action and creates the VMs", arguments: testedDialects)
    func applyPlan(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let world = try await fixture.world()
            let vmID = StoreFixture.id()
            let plan = fixture.plan(world, [StoreFixture.action(.create, vm: vmID, name: "web", operationID: "op-1")])
            let applied = try await fixture.store.applyPlan(plan, now: StoreFixture.at(3))
            #expect(applied.planID == plan.planID)
            #expect(applied.planVersion == 1)
            #expect(applied.status == .pending)
            #expect(!applied.deduplicated)
            let execution = try #require(applied.executions.first)
            #expect(applied.executions.count == 1)
            #expect(execution.id == plan.executionIDs[0])
            #expect(execution.tenantId == world.tenantID && execution.siteId == world.siteID && execution.planId == plan.planID)
            #expect(execution.vmId == vmID && execution.operationId == "op-1" && execution.operationType == .create)
            #expect(execution.state == .pending)
            #expect(execution.hostId == nil && execution.agentId == nil && execution.errorCode == nil && execution.errorMessage == nil)
            #expect(execution.updatedAt == ProtoTimestamp(date: StoreFixture.at(3)))
            #expect(execution.startedAt == nil && execution.completedAt == nil)
            #expect(try await fixture.store.execution(id: execution.id, tenantID: world.tenantID) == execution)

            let vm = try #require(try await fixture.microVM(vmID, world: world))
            #expect(vm.name == "web" && vm.state == .creating && vm.hostId == "" && vm.vcpuCount == 2 && vm.memoryMib == 512)
            #expect(vm.lastTransitionAt == ProtoTimestamp(date: StoreFixture.at(3)))
            let payload = try await fixture.rows("SELECT payload_json FROM executions WHERE id = $1", [.text(execution.id)])
            #expect(try payload.first?.text("payload_json") == #"{"operation":"CREATE","vm_id":"\#(vmID)"}"#)
        }
    }

    @Test("defect 5: actions keep their submitted order everywhere (ordinal)", arguments: testedDialects)
    func actionsKeepTheirOrder(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let world = try await fixture.world()
            let vmID = StoreFixture.id()
            // Operation ids in reverse lexical order, all at one timestamp.
            var actions = [StoreFixture.action(.create, vm: vmID, operationID: "op-z")]
            for index in 0..<10 {
                actions.append(StoreFixture.action(index.isMultiple(of: 2) ? .start : .stop, vm: vmID, operationID: "op-\(9 - index)"))
            }
            let plan = fixture.plan(world, key: "ordered", actions)
            let operationIDs = actions.map(\.operationID)
            let applied = try await fixture.store.applyPlan(plan, now: StoreFixture.t0)
            #expect(applied.executions.map(\.operationId) == operationIDs)
            #expect(applied.executions.map(\.id) == plan.executionIDs)
            let replay = try await fixture.store.applyPlan(plan, now: StoreFixture.at(1))
            #expect(replay.executions.map(\.operationId) == operationIDs)
            let leased = try await fixture.store.leasePlans(agentID: world.agent.agentID, lease: StoreFixture.lease, now: StoreFixture.at(2))
            #expect(leased.first?.actions.map(\.operationID) == operationIDs)
            #expect(leased.first?.actions.map(\.executionID) == plan.executionIDs)
        }
    }

    @Test("defect 20: the idempotency key is scoped to (tenant, site) and checked against the request hash", arguments: testedDialects)
    func idempotencyScopeAndHash(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let world = try await fixture.world()
            let actions = [StoreFixture.action(.create, vm: StoreFixture.id())]
            let first = try await fixture.store.applyPlan(fixture.plan(world, key: "k", hash: "h1", actions), now: StoreFixture.t0)

            var replay = fixture.plan(world, key: "k", hash: "h1", actions)
            replay.executionIDs = [StoreFixture.id()]
            let deduplicated = try await fixture.store.applyPlan(replay, now: StoreFixture.at(1))
            #expect(deduplicated.deduplicated)
            #expect(deduplicated.planID == first.planID && deduplicated.planVersion == first.planVersion)
            #expect(deduplicated.executions == first.executions)

            let mismatch = await storeError { try await fixture.store.applyPlan(fixture.plan(world, key: "k", hash: "h2", actions), now: StoreFixture.at(2)) }
            #expect(mismatch?.code == .conflict)

            let otherSite = try await fixture.site(tenantID: world.tenantID)
            let elsewhere = StoreFixture.World(tenantID: world.tenantID, siteID: otherSite.id, agent: world.agent)
            let separate = try await fixture.store.applyPlan(fixture.plan(elsewhere, key: "k", hash: "h1", [StoreFixture.action(.create, vm: StoreFixture.id())]), now: StoreFixture.at(3))
            #expect(!separate.deduplicated)
            #expect(separate.planID != first.planID)
            #expect(separate.planVersion == 1)
        }
    }

    @Test("a replay returns the plan's current status and executions", arguments: testedDialects)
    func replayShowsLiveStatus(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let world = try await fixture.world()
            let plan = fixture.plan(world, key: "live", [StoreFixture.action(.create, vm: StoreFixture.id(), operationID: "c")])
            _ = try await fixture.store.applyPlan(plan, now: StoreFixture.t0)
            _ = try await fixture.store.leasePlans(agentID: world.agent.agentID, lease: StoreFixture.lease, now: StoreFixture.at(1))
            let status = try await fixture.store.reportResults(
                ResultReport(agentID: world.agent.agentID, planID: plan.planID, results: [StoreFixture.result("c", ok: true, at: StoreFixture.at(2))]),
                now: StoreFixture.at(2)
            )
            #expect(status == .succeeded)
            let replay = try await fixture.store.applyPlan(plan, now: StoreFixture.at(3))
            #expect(replay.deduplicated && replay.status == .succeeded)
            #expect(replay.executions.map(\.state) == [.succeeded])
        }
    }

    @Test("defect 8: 20 concurrent applies with one key give one plan; the others get the deduplicated answer", arguments: testedDialects)
    func concurrentDuplicateApplies(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let world = try await fixture.world()
            let vmID = StoreFixture.id()
            let answers = try await withThrowingTaskGroup(of: AppliedPlan.self) { group in
                for _ in 0..<20 {
                    group.addTask {
                        try await fixture.store.applyPlan(fixture.plan(world, key: "same", hash: "same-hash", [StoreFixture.action(.create, vm: vmID, operationID: "c")]), now: StoreFixture.t0)
                    }
                }
                return try await group.reduce(into: [AppliedPlan]()) { $0.append($1) }
            }
            #expect(answers.count == 20)
            #expect(answers.filter { !$0.deduplicated }.count == 1)
            #expect(Set(answers.map(\.planID)).count == 1)
            #expect(Set(answers.map(\.planVersion)) == [1])
            #expect(try await fixture.rows("SELECT id FROM plans").count == 1)
            #expect(try await fixture.rows("SELECT id FROM executions").count == 1)
        }
    }

    @Test("plan versions are per site, gap-free and monotonic, also under concurrency", arguments: testedDialects)
    func planVersions(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let world = try await fixture.world()
            let versions = try await withThrowingTaskGroup(of: Int64.self) { group in
                for _ in 0..<20 {
                    group.addTask { try await fixture.apply(world, [StoreFixture.action(.create, vm: StoreFixture.id())]).planVersion }
                }
                return try await group.reduce(into: [Int64]()) { $0.append($1) }
            }
            #expect(versions.sorted() == Array(1...20))
            #expect(try await fixture.apply(world, [StoreFixture.action(.create, vm: StoreFixture.id())]).planVersion == 21)
            let otherSite = try await fixture.site(tenantID: world.tenantID)
            let elsewhere = StoreFixture.World(tenantID: world.tenantID, siteID: otherSite.id, agent: world.agent)
            #expect(try await fixture.apply(elsewhere, [StoreFixture.action(.create, vm: StoreFixture.id())]).planVersion == 1)
        }
    }

    @Test("defect 22: START/STOP/DELETE need a VM of the tenant's site; the error names the action index", arguments: testedDialects)
    func vmReferencesAreValidated(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let world = try await fixture.world()
            let existing = StoreFixture.id()
            _ = try await fixture.apply(world, [StoreFixture.action(.create, vm: existing)])

            let unknown = await storeError { try await fixture.apply(world, [StoreFixture.action(.start, vm: existing), StoreFixture.action(.stop, vm: StoreFixture.id())]) }
            #expect(unknown?.code == .invalid)
            #expect(unknown?.message.contains("action 1") == true)
            let blank = await storeError { try await fixture.apply(world, [StoreFixture.action(.delete, vm: " ")]) }
            #expect(blank?.code == .invalid)
            #expect(blank?.message.contains("action 0") == true)

            let otherTenant = try await fixture.world()
            let foreign = await storeError { try await fixture.apply(otherTenant, [StoreFixture.action(.start, vm: existing)]) }
            #expect(foreign?.code == .invalid)
            #expect(foreign?.message.contains("action 0") == true)
            let otherSite = try await fixture.site(tenantID: world.tenantID)
            let sibling = StoreFixture.World(tenantID: world.tenantID, siteID: otherSite.id, agent: world.agent)
            #expect(await storeError { try await fixture.apply(sibling, [StoreFixture.action(.stop, vm: existing)]) }?.code == .invalid)

            let unspecified = await storeError { try await fixture.apply(world, [StoreFixture.action(.unspecified, vm: existing)]) }
            #expect(unspecified?.code == .invalid)
            let duplicateOperation = await storeError {
                try await fixture.apply(world, [StoreFixture.action(.start, vm: existing, operationID: "x"), StoreFixture.action(.stop, vm: existing, operationID: "x")])
            }
            #expect(duplicateOperation?.code == .invalid)
            #expect(await storeError { try await fixture.apply(world, []) }?.code == .invalid)

            // A VM created earlier in the same plan is a valid target; nothing of the
            // rejected plans was stored.
            let fresh = StoreFixture.id()
            let applied = try await fixture.apply(world, [StoreFixture.action(.create, vm: fresh), StoreFixture.action(.start, vm: fresh)])
            #expect(applied.planVersion == 2)
            #expect(try await fixture.rows("SELECT id FROM plans").count == 2)
        }
    }

    @Test("defect 10: CREATE's default name is vm- plus at most 8 characters of the id", arguments: testedDialects)
    func defaultVMName(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let world = try await fixture.world()
            let long = StoreFixture.id()
            _ = try await fixture.apply(world, [StoreFixture.action(.create, vm: "ab"), StoreFixture.action(.create, vm: long)])
            #expect(try await fixture.microVM("ab", world: world)?.name == "vm-ab")
            #expect(try await fixture.microVM(long, world: world)?.name == "vm-\(long.prefix(8))")
        }
    }

    @Test("defect 42: CREATE for a VM of another tenant or site is .conflict and leaves it alone", arguments: testedDialects)
    func createCannotTakeAnotherSitesVM(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let world = try await fixture.world()
            let vmID = StoreFixture.id()
            _ = try await fixture.apply(world, [StoreFixture.action(.create, vm: vmID, name: "mine")])
            let other = try await fixture.world()
            let stolen = await storeError { try await fixture.apply(other, [StoreFixture.action(.create, vm: vmID, name: "theirs")]) }
            #expect(stolen?.code == .conflict)
            let otherSite = try await fixture.site(tenantID: world.tenantID)
            let sibling = StoreFixture.World(tenantID: world.tenantID, siteID: otherSite.id, agent: world.agent)
            #expect(await storeError { try await fixture.apply(sibling, [StoreFixture.action(.create, vm: vmID)]) }?.code == .conflict)
            let vm = try #require(try await fixture.microVM(vmID, world: world))
            #expect(vm.name == "mine" && vm.tenantId == world.tenantID && vm.siteId == world.siteID)
        }
    }

    @Test("CREATE of an existing VM of the site updates name and size; a name in use is .conflict", arguments: testedDialects)
    func createUpsertsAndNamesAreUnique(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let world = try await fixture.world()
            let vmID = StoreFixture.id()
            _ = try await fixture.apply(world, [StoreFixture.action(.create, vm: vmID, name: "web")])
            var bigger = StoreFixture.action(.create, vm: vmID, name: "web-2")
            bigger.vcpuCount = 0
            bigger.memoryMiB = 64
            _ = try await fixture.apply(world, [bigger], at: StoreFixture.at(1))
            let vm = try #require(try await fixture.microVM(vmID, world: world))
            #expect(vm.name == "web-2" && vm.vcpuCount == 1 && vm.memoryMib == 128 && vm.state == .creating)
            #expect(vm.updatedAt == ProtoTimestamp(date: StoreFixture.at(1)))

            let taken = await storeError { try await fixture.apply(world, [StoreFixture.action(.create, vm: StoreFixture.id(), name: "web-2")]) }
            #expect(taken?.code == .conflict)
            let twice = await storeError {
                try await fixture.apply(world, [StoreFixture.action(.create, vm: StoreFixture.id(), name: "db"), StoreFixture.action(.create, vm: StoreFixture.id(), name: "db")])
            }
            #expect(twice?.code == .conflict)
        }
    }

    @Test("applyPlan needs a site of the tenant", arguments: testedDialects)
    func applyNeedsTheTenantsSite(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let world = try await fixture.world()
            let other = try await fixture.tenant()
            let wrong = StoreFixture.World(tenantID: other.id, siteID: world.siteID, agent: world.agent)
            #expect(await storeError { try await fixture.apply(wrong, [StoreFixture.action(.create, vm: StoreFixture.id())]) }?.code == .notFound)
        }
    }
}
