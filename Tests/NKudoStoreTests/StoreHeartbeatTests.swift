import Foundation
import NKudoContract
import Testing

@testable import NKudoStore
import NKudoSQL
import SQLTestSupport

// Heartbeats: liveness, facts, NetBird, VM reports, execution updates.
extension StoreTests {
    @Test("a heartbeat records liveness and facts and leases plans in the same call (defect 28)", arguments: testedDialects)
    func heartbeatRecordsFactsAndLeases(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let world = try await fixture.world()
            let applied = try await fixture.apply(world, [StoreFixture.action(.create, vm: StoreFixture.id())])
            var heartbeat = fixture.heartbeat(world.agent.agentID, seq: 7, cpu: 4)
            heartbeat.agentVersion = "1.1.0"
            heartbeat.kernelVersion = "6.6.0"
            heartbeat.os = " "
            let leased = try await fixture.store.ingestHeartbeat(heartbeat, lease: StoreFixture.lease, now: StoreFixture.at(20))
            #expect(leased.leased.map(\.planID) == [applied.planID])

            let agent = try #require(try await fixture.store.agent(id: world.agent.agentID))
            #expect(agent.state == .online && agent.heartbeatSeq == 7 && agent.lastHeartbeatAt == StoreFixture.at(20))
            let software = try await fixture.rows("SELECT agent_version, os, arch, kernel_version FROM agents WHERE id = $1", [.text(agent.id)])
            #expect(try software.first?.text("agent_version") == "1.1.0")
            #expect(try software.first?.text("os") == "linux")
            #expect(try software.first?.text("kernel_version") == "6.6.0")

            let host = try #require(try await fixture.store.listHosts(tenantID: world.tenantID, siteID: world.siteID).first)
            #expect(host.cpuCoresTotal == 4 && host.memoryBytesTotal == 16 << 30 && host.storageBytesTotal == 500 << 30)
            #expect(host.kvmAvailable && host.cloudHypervisorAvailable)
            #expect(host.lastFactsAt == ProtoTimestamp(date: StoreFixture.at(20)))
            #expect(host.agentState == .online && host.agentLastHeartbeatAt == ProtoTimestamp(date: StoreFixture.at(20)))
            let site = try #require(try await fixture.store.site(id: world.siteID, tenantID: world.tenantID))
            #expect(site.connectivityState == .online && site.lastHeartbeatAt == ProtoTimestamp(date: StoreFixture.at(20)))
        }
    }

    @Test("""
        a heartbeat reads ahead with the agent's placement it last saw and takes the general path when there are plans to lease, \
        VMs to change, the agent moved to another host or is not ONLINE: the same rows as without reading ahead
        """, arguments: testedDialects)
    func readingAheadWritesWhatTheGeneralPathWrites(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let world = try await fixture.world()
            let agentID = world.agent.agentID
            let vmID = StoreFixture.id()
            func cpu(of hostID: String) async throws -> Int32? {
                try await fixture.store.listHosts(tenantID: world.tenantID, siteID: world.siteID).first { $0.id == hostID }?.cpuCoresTotal
            }
            func beat(_ seconds: TimeInterval, cpu: Int32, _ state: MicroVM.State = .running) async throws -> HeartbeatOutcome {
                try await fixture.store.ingestHeartbeat(
                    fixture.heartbeat(agentID, seq: Int64(seconds), cpu: cpu, vms: [StoreFixture.vm(vmID, state, at: StoreFixture.at(1))]),
                    lease: StoreFixture.lease, now: StoreFixture.at(seconds))
            }
            // The first heartbeat learns the placement; the second, with nothing to change
            // but the facts, sends them with the commit.
            #expect(try await beat(1, cpu: 2).leased.isEmpty)
            #expect(try await beat(2, cpu: 3).leased.isEmpty)
            #expect(try await cpu(of: world.agent.hostID) == 3)
            #expect(try await fixture.store.agent(id: agentID)?.lastHeartbeatAt == StoreFixture.at(2))
            let site = try await fixture.store.site(id: world.siteID, tenantID: world.tenantID)
            #expect(site?.lastHeartbeatAt == ProtoTimestamp(date: StoreFixture.at(2)))
            // A plan to lease.
            let applied = try await fixture.apply(world, [StoreFixture.action(.create, vm: StoreFixture.id())])
            #expect(try await beat(3, cpu: 4).leased.map(\.planID) == [applied.planID])
            #expect(try await cpu(of: world.agent.hostID) == 4)
            // A VM that changed (the plan comes again: the heartbeat does not claim it).
            #expect(try await beat(4, cpu: 4, .stopped).leased.map(\.planID) == [applied.planID])
            #expect(try await fixture.microVM(vmID, world: world)?.state == .stopped)
            #expect(try await fixture.transitions(of: vmID).count == 2)
            // The agent's row says another host now: the facts go there.
            let otherHostID = StoreFixture.id()
            try await fixture.execute(
                "INSERT INTO hosts (id, tenant_id, site_id, hostname, created_at, updated_at) VALUES ($1, $2, $3, 'moved-to', 0, 0)",
                [.text(otherHostID), .text(world.tenantID), .text(world.siteID)])
            try await fixture.execute("UPDATE agents SET host_id = $1 WHERE id = $2", [.text(otherHostID), .text(agentID)])
            _ = try await beat(5, cpu: 12, .stopped)
            #expect(try await cpu(of: otherHostID) == 12)
            #expect(try await cpu(of: world.agent.hostID) == 4)
            _ = try await beat(6, cpu: 14, .stopped)
            #expect(try await cpu(of: otherHostID) == 14)
            // Not ONLINE: back ONLINE, the site rolled up.
            try await fixture.execute("UPDATE agents SET state = 'OFFLINE' WHERE id = $1", [.text(agentID)])
            _ = try await beat(7, cpu: 16, .stopped)
            #expect(try await fixture.store.agent(id: agentID)?.state == .online)
            #expect(try await cpu(of: otherHostID) == 16)
        }
    }

    @Test("defect 43: the NetBird status is stored and listed with the host; a heartbeat without one keeps it", arguments: testedDialects)
    func netbirdStatusIsStored(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let world = try await fixture.world()
            let netbird = NetbirdStatus(
                connected: true, state: .connected, reason: "network ready", peerId: "peer-1", ipv4: "100.64.0.7",
                managementUrl: "https://netbird.example", networkId: nil, peersConnected: 3, peersTotal: 4,
                managementConnected: true, signalConnected: true, fqdn: "edge.netbird.cloud"
            )
            _ = try await fixture.store.ingestHeartbeat(fixture.heartbeat(world.agent.agentID, netbird: netbird), lease: StoreFixture.lease, now: StoreFixture.at(1))
            #expect(try await fixture.store.listHosts(tenantID: world.tenantID, siteID: world.siteID).first?.netbird == netbird)
            _ = try await fixture.store.ingestHeartbeat(fixture.heartbeat(world.agent.agentID), lease: StoreFixture.lease, now: StoreFixture.at(2))
            #expect(try await fixture.store.listHosts(tenantID: world.tenantID, siteID: world.siteID).first?.netbird == netbird)
        }
    }

    @Test("issue 11 (identity): the enrolled hostname stays the host's name; a heartbeat's host name is its os_hostname fact", arguments: testedDialects)
    func enrolledHostnameIsTheIdentity(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let tenant = try await fixture.tenant()
            let site = try await fixture.site(tenantID: tenant.id)
            let first = try await fixture.agent(tenantID: tenant.id, siteID: site.id, hostname: "edge-a")
            let second = try await fixture.agent(tenantID: tenant.id, siteID: site.id, hostname: "edge-b")
            func hosts() async throws -> [String] {
                try await fixture.store.listHosts(tenantID: tenant.id, siteID: site.id).map { "\($0.hostname)/\($0.osHostname)" }
            }
            _ = try await fixture.store.ingestHeartbeat(fixture.heartbeat(first.agentID, osHostname: nil), lease: StoreFixture.lease, now: StoreFixture.at(1))
            _ = try await fixture.store.ingestHeartbeat(fixture.heartbeat(second.agentID, osHostname: "  "), lease: StoreFixture.lease, now: StoreFixture.at(1))
            #expect(try await hosts() == ["edge-a/", "edge-b/"])
            // Two agents on one box (or two cloned boxes) report the same OS host name.
            _ = try await fixture.store.ingestHeartbeat(fixture.heartbeat(first.agentID, osHostname: "box"), lease: StoreFixture.lease, now: StoreFixture.at(2))
            _ = try await fixture.store.ingestHeartbeat(fixture.heartbeat(second.agentID, osHostname: "box"), lease: StoreFixture.lease, now: StoreFixture.at(2))
            #expect(try await hosts() == ["edge-a/box", "edge-b/box"])
            _ = try await fixture.store.ingestHeartbeat(fixture.heartbeat(second.agentID, osHostname: "edge-a"), lease: StoreFixture.lease, now: StoreFixture.at(3))
            _ = try await fixture.store.ingestHeartbeat(fixture.heartbeat(second.agentID, osHostname: nil), lease: StoreFixture.lease, now: StoreFixture.at(4))
            #expect(try await hosts() == ["edge-a/box", "edge-b/edge-a"])
        }
    }

    @Test("defect 25: a stale heartbeat changes no facts, VMs or agent fields but still returns leases", arguments: testedDialects)
    func staleHeartbeatIsIgnored(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let world = try await fixture.world()
            let agentID = world.agent.agentID
            let vmID = StoreFixture.id()
            _ = try await fixture.store.ingestHeartbeat(
                fixture.heartbeat(agentID, seq: 10, cpu: 8, vms: [StoreFixture.vm(vmID, .running, at: StoreFixture.at(1))]), lease: StoreFixture.lease, now: StoreFixture.at(1)
            )
            let agentBefore = try await fixture.store.agent(id: agentID)
            let applied = try await fixture.apply(world, [StoreFixture.action(.create, vm: StoreFixture.id())])

            var stale = fixture.heartbeat(agentID, seq: 9, cpu: 2, vms: [StoreFixture.vm(vmID, .stopped, at: StoreFixture.at(2))])
            stale.agentVersion = "0.9"
            let leased = try await fixture.store.ingestHeartbeat(stale, lease: StoreFixture.lease, now: StoreFixture.at(2))
            #expect(leased.leased.map(\.planID) == [applied.planID])
            #expect(try await fixture.store.agent(id: agentID) == agentBefore)
            #expect(try await fixture.store.listHosts(tenantID: world.tenantID, siteID: world.siteID).first?.cpuCoresTotal == 8)
            #expect(try await fixture.microVM(vmID, world: world)?.state == .running)

            // Equal and unnumbered heartbeats are not stale; the stored sequence never goes back.
            _ = try await fixture.store.ingestHeartbeat(fixture.heartbeat(agentID, seq: 10, cpu: 6), lease: StoreFixture.lease, now: StoreFixture.at(3))
            #expect(try await fixture.store.listHosts(tenantID: world.tenantID, siteID: world.siteID).first?.cpuCoresTotal == 6)
            _ = try await fixture.store.ingestHeartbeat(fixture.heartbeat(agentID, seq: 0, cpu: 5), lease: StoreFixture.lease, now: StoreFixture.at(4))
            #expect(try await fixture.store.listHosts(tenantID: world.tenantID, siteID: world.siteID).first?.cpuCoresTotal == 5)
            #expect(try await fixture.store.agent(id: agentID)?.heartbeatSeq == 10)
        }
    }

    @Test("a heartbeat whose certificate serial is not the agent's current one is refused and writes nothing", arguments: testedDialects)
    func certificateSerialIsChecked(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let world = try await fixture.world()
            let agentID = world.agent.agentID
            var current = fixture.heartbeat(agentID, seq: 1, cpu: 4)
            current.certificateSerial = "1001"
            _ = try await fixture.store.ingestHeartbeat(current, lease: StoreFixture.lease, now: StoreFixture.at(1))
            let before = try await fixture.store.agent(id: agentID)
            for (agent, serial) in [(agentID, "1002"), (StoreFixture.id(), "1001")] {
                var other = fixture.heartbeat(agent, seq: 2, cpu: 6, vms: [StoreFixture.vm(StoreFixture.id(), .running)])
                other.certificateSerial = serial
                let refused = await storeError {
                    try await fixture.store.ingestHeartbeat(other, lease: StoreFixture.lease, now: StoreFixture.at(2))
                }
                #expect(refused?.code == .unauthorized)
            }
            // The same refusal for an agent that is not ONLINE (the other path).
            try await fixture.execute("UPDATE agents SET state = 'OFFLINE' WHERE id = $1", [.text(agentID)])
            var offline = fixture.heartbeat(agentID, seq: 3, cpu: 6)
            offline.certificateSerial = "1002"
            #expect(await storeError { try await fixture.store.ingestHeartbeat(offline, lease: StoreFixture.lease, now: StoreFixture.at(3)) }?.code == .unauthorized)
            var after = before
            after?.state = .offline
            #expect(try await fixture.store.agent(id: agentID) == after)
            #expect(try await fixture.store.listHosts(tenantID: world.tenantID, siteID: world.siteID).first?.cpuCoresTotal == 4)
            #expect(try await fixture.rows("SELECT id FROM microvms", []).isEmpty)
        }
    }

    @Test("heartbeat sequence numbers use all 63 bits (e.g. milliseconds since 1970)", arguments: testedDialects)
    func wideSequenceNumbers(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let world = try await fixture.world()
            let agentID = world.agent.agentID
            let base: Int64 = 1_764_450_000_000
            for (offset, cpu) in [(0, 4), (1, 6), (-1, 2)] as [(Int64, Int32)] {
                _ = try await fixture.store.ingestHeartbeat(
                    fixture.heartbeat(agentID, seq: base + offset, cpu: cpu), lease: StoreFixture.lease, now: StoreFixture.at(1)
                )
            }
            #expect(try await fixture.store.agent(id: agentID)?.heartbeatSeq == base + 1)
            #expect(try await fixture.store.listHosts(tenantID: world.tenantID, siteID: world.siteID).first?.cpuCoresTotal == 6)
        }
    }

    @Test("defect 25: last_transition_at changes only when the state changes; every change is audited", arguments: testedDialects)
    func transitionsOnlyOnStateChanges(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let world = try await fixture.world()
            let agentID = world.agent.agentID
            let vmID = StoreFixture.id()
            for (second, state) in [(1.0, MicroVM.State.running), (2, .running), (3, .stopped), (4, .stopped)] {
                _ = try await fixture.store.ingestHeartbeat(
                    fixture.heartbeat(agentID, vms: [StoreFixture.vm(vmID, state, name: "reported", at: StoreFixture.at(second))]),
                    lease: StoreFixture.lease, now: StoreFixture.at(second)
                )
            }
            let vm = try #require(try await fixture.microVM(vmID, world: world))
            #expect(vm.state == .stopped && vm.name == "reported" && vm.hostId == world.agent.hostID)
            #expect(vm.lastTransitionAt == ProtoTimestamp(date: StoreFixture.at(3)))
            // A report that changes nothing leaves the VM as it was, `updated_at` included.
            #expect(vm.updatedAt == ProtoTimestamp(date: StoreFixture.at(3)))
            #expect(try await fixture.transitions(of: vmID) == ["→RUNNING", "RUNNING→STOPPED"])
            let audit = try await fixture.rows("SELECT actor_type, actor_id, tenant_id, site_id FROM audit_events WHERE resource_id = $1", [.text(vmID)])
            #expect(try audit.allSatisfy { try $0.text("actor_type") == "AGENT" && $0.text("actor_id") == agentID && $0.text("site_id") == world.siteID })
        }
    }

    @Test("a report that changes only a VM's size is written, without a transition", arguments: testedDialects)
    func sizeChangesAreWritten(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let world = try await fixture.world()
            let agentID = world.agent.agentID
            let vmID = StoreFixture.id()
            var report = StoreFixture.vm(vmID, .running, at: StoreFixture.at(1))
            _ = try await fixture.store.ingestHeartbeat(fixture.heartbeat(agentID, vms: [report]), lease: StoreFixture.lease, now: StoreFixture.at(1))
            report.vcpuCount = 4
            report.memoryMiB = 2048
            _ = try await fixture.store.ingestHeartbeat(fixture.heartbeat(agentID, vms: [report]), lease: StoreFixture.lease, now: StoreFixture.at(2))
            let vm = try #require(try await fixture.microVM(vmID, world: world))
            #expect(vm.vcpuCount == 4 && vm.memoryMib == 2048 && vm.state == .running)
            #expect(vm.updatedAt == ProtoTimestamp(date: StoreFixture.at(2)))
            #expect(vm.lastTransitionAt == ProtoTimestamp(date: StoreFixture.at(1)))
            #expect(try await fixture.transitions(of: vmID) == ["→RUNNING"])
        }
    }

    @Test("defect 42: a reported VM id of another tenant or site is skipped, never moved", arguments: testedDialects)
    func foreignVMsAreSkipped(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let owner = try await fixture.world()
            let vmID = StoreFixture.id()
            _ = try await fixture.apply(owner, [StoreFixture.action(.create, vm: vmID, name: "owned")])
            let intruder = try await fixture.world()
            let sibling = try await fixture.agent(tenantID: owner.tenantID, siteID: try await fixture.site(tenantID: owner.tenantID).id)
            let ownVM = StoreFixture.id()
            for agentID in [intruder.agent.agentID, sibling.agentID] {
                _ = try await fixture.store.ingestHeartbeat(
                    fixture.heartbeat(agentID, vms: [StoreFixture.vm(vmID, .running, name: "stolen"), StoreFixture.vm(ownVM, .running)]),
                    lease: StoreFixture.lease, now: StoreFixture.at(1)
                )
            }
            let vm = try #require(try await fixture.microVM(vmID, world: owner))
            #expect(vm.state == .creating && vm.name == "owned" && vm.hostId == "")
            #expect(try await fixture.transitions(of: vmID).isEmpty)
            #expect(try await fixture.microVM(ownVM, world: intruder)?.state == .running)
        }
    }

    @Test("a reported VM whose name is taken in the site is stored under its id (the service normalises names and states: HeartbeatNormalizerTests)",
          arguments: testedDialects)
    func reportedVMNames(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let world = try await fixture.world()
            _ = try await fixture.apply(world, [StoreFixture.action(.create, vm: StoreFixture.id(), name: "web")])
            let clash = StoreFixture.id()
            let other = StoreFixture.id()
            _ = try await fixture.store.ingestHeartbeat(
                fixture.heartbeat(world.agent.agentID, vms: [StoreFixture.vm(clash, .running, name: "web"), StoreFixture.vm(other, .creating, name: "db")]),
                lease: StoreFixture.lease, now: StoreFixture.at(1)
            )
            #expect(try await fixture.microVM(clash, world: world)?.name == clash)
            let named = try #require(try await fixture.microVM(other, world: world))
            #expect(named.name == "db" && named.state == .creating)
            #expect(try await fixture.store.listMicroVMs(tenantID: world.tenantID, siteID: world.siteID).count == 3)
        }
    }

    @Test("defect 2: heartbeat execution updates complete executions, move VMs and roll the plan up", arguments: testedDialects)
    func heartbeatExecutionUpdates(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let world = try await fixture.world()
            let agentID = world.agent.agentID
            let vmID = StoreFixture.id()
            let plan = fixture.plan(world, [StoreFixture.action(.create, vm: vmID, operationID: "c"), StoreFixture.action(.start, vm: vmID, operationID: "s")])
            _ = try await fixture.store.applyPlan(plan, now: StoreFixture.t0)
            let update = { (index: Int, state: Execution.State, second: TimeInterval) in
                HeartbeatIngest.ExecutionUpdate(executionID: plan.executionIDs[index], state: state, errorCode: nil, errorMessage: nil, updatedAt: StoreFixture.at(second))
            }
            // The first heartbeat leases the plan after recording (nothing to record yet).
            #expect(try await fixture.store.ingestHeartbeat(fixture.heartbeat(agentID), lease: StoreFixture.lease, now: StoreFixture.at(1)).leased.count == 1)
            _ = try await fixture.store.ingestHeartbeat(fixture.heartbeat(agentID, updates: [update(0, .inProgress, 2)]), lease: StoreFixture.lease, now: StoreFixture.at(2))
            var execution = try #require(try await fixture.store.execution(id: plan.executionIDs[0], tenantID: world.tenantID))
            #expect(execution.state == .inProgress && execution.startedAt == ProtoTimestamp(date: StoreFixture.at(2)))
            _ = try await fixture.store.ingestHeartbeat(
                fixture.heartbeat(agentID, updates: [update(0, .succeeded, 3), update(1, .succeeded, 4), update(1, .pending, 5)]),
                lease: StoreFixture.lease, now: StoreFixture.at(5)
            )
            execution = try #require(try await fixture.store.execution(id: plan.executionIDs[0], tenantID: world.tenantID))
            #expect(execution.state == .succeeded && execution.agentId == agentID && execution.completedAt == ProtoTimestamp(date: StoreFixture.at(3)))
            #expect(try await fixture.microVM(vmID, world: world)?.state == .running)
            #expect(try await fixture.store.applyPlan(plan, now: StoreFixture.at(6)).status == .succeeded)
        }
    }

    @Test("heartbeat execution updates are scoped to the agent's site and skip plans another agent holds", arguments: testedDialects)
    func heartbeatExecutionUpdatesAreScoped(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let world = try await fixture.world()
            let plan = fixture.plan(world, [StoreFixture.action(.create, vm: StoreFixture.id(), operationID: "c")])
            _ = try await fixture.store.applyPlan(plan, now: StoreFixture.t0)
            let failed = HeartbeatIngest.ExecutionUpdate(executionID: plan.executionIDs[0], state: .failed, errorCode: nil, errorMessage: "boom", updatedAt: StoreFixture.at(2))
            let stranger = try await fixture.world()
            _ = try await fixture.store.ingestHeartbeat(fixture.heartbeat(stranger.agent.agentID, updates: [failed]), lease: StoreFixture.lease, now: StoreFixture.at(2))
            _ = try await fixture.store.leasePlans(agentID: world.agent.agentID, lease: StoreFixture.lease, now: StoreFixture.at(3))
            let sibling = try await fixture.agent(tenantID: world.tenantID, siteID: world.siteID)
            _ = try await fixture.store.ingestHeartbeat(fixture.heartbeat(sibling.agentID, updates: [failed]), lease: StoreFixture.lease, now: StoreFixture.at(4))
            #expect(try await fixture.store.execution(id: plan.executionIDs[0], tenantID: world.tenantID)?.state == .pending)
            _ = try await fixture.store.ingestHeartbeat(fixture.heartbeat(world.agent.agentID, updates: [failed]), lease: StoreFixture.lease, now: StoreFixture.at(5))
            let execution = try #require(try await fixture.store.execution(id: plan.executionIDs[0], tenantID: world.tenantID))
            #expect(execution.state == .failed && execution.errorCode == "ACTION_FAILED" && execution.errorMessage == "boom")
        }
    }
}
