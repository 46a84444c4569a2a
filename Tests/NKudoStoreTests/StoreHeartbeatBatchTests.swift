import Foundation
import NKudoContract
import Synchronization
import Testing

@testable import NKudoStore
import NKudoSQL
import SQLTestSupport

// Heartbeats of several agents written in one transaction (`SQLStore.heartbeatBatches`).
extension StoreTests {
    @Test("""
        a batch of heartbeats finishes those with nothing more to do in one transaction and leaves the others, \
        untouched or with only their liveness written, to a transaction of their own, which then does the rest
        """, arguments: testedDialects)
    func batchFinishesOnlyWhatNeedsNothingMore(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let world = try await fixture.world()
            let agents = try await fixture.agents(5, in: world)
            let busyWorld = try await fixture.world()
            for agent in agents + [busyWorld.agent] {
                var first = fixture.heartbeat(agent.agentID, seq: 5, cpu: 2)
                first.certificateSerial = "1001"
                _ = try await fixture.store.ingestHeartbeat(first, lease: StoreFixture.lease, now: StoreFixture.at(1))
            }
            let pending = try await fixture.apply(busyWorld, [StoreFixture.action(.create, vm: StoreFixture.id())])
            let newVM = StoreFixture.id()
            func member(_ agent: EnrollmentRecord, seq: Int64 = 6, serial: String = "1001", hostID: String? = nil,
                        vms: [HeartbeatIngest.ReportedVM] = []) -> SQLStore.HeartbeatBatchMember {
                var heartbeat = fixture.heartbeat(agent.agentID, seq: seq, cpu: 5, vms: vms)
                heartbeat.certificateSerial = serial
                let placement = hostID.map { AgentPlacement(agentID: agent.agentID, tenantID: agent.tenantID, siteID: agent.siteID, hostID: $0) }
                    ?? agent.placement
                return SQLStore.HeartbeatBatchMember(heartbeat: heartbeat, placement: placement, lease: StoreFixture.lease,
                                                     now: StoreFixture.at(10))
            }
            let members = [
                member(agents[0]),
                member(agents[1], serial: "9999"),
                member(agents[2], seq: 4),
                member(agents[3], vms: [StoreFixture.vm(newVM, .running)]),
                member(agents[4], hostID: StoreFixture.id()),
                member(busyWorld.agent),
            ]
            let outcomes = await SQLStore.runHeartbeatBatch(members, database: fixture.database, siteClock: fixture.store.siteHeartbeatClock,
                                                      logger: silentLogger)
            #expect(outcomes.count == members.count)
            #expect(outcomes.map { $0 != nil } == [true, false, false, false, false, false])
            let finished = try #require(outcomes.first ?? nil).get()
            #expect(finished.storedSeq == 6 && finished.leased.isEmpty)

            func state(_ agent: EnrollmentRecord) async throws -> (seen: Date?, seq: Int64?, cpu: Int32?) {
                let stored = try await fixture.store.agent(id: agent.agentID)
                let hosts = try await fixture.store.listHosts(tenantID: agent.tenantID, siteID: agent.siteID)
                return (stored?.lastHeartbeatAt, stored?.heartbeatSeq, hosts.first { $0.id == agent.hostID }?.cpuCoresTotal)
            }
            // Finished: liveness and facts.
            #expect(try await state(agents[0]) == (StoreFixture.at(10), 6, 5))
            // Refused (another certificate) or stale: nothing written.
            #expect(try await state(agents[1]) == (StoreFixture.at(1), 5, 2))
            #expect(try await state(agents[2]) == (StoreFixture.at(1), 5, 2))
            // A VM to insert, an agent elsewhere than assumed, a plan to lease: liveness only.
            for agent in [agents[3], agents[4], busyWorld.agent] {
                #expect(try await state(agent) == (StoreFixture.at(10), 6, 2))
            }
            #expect(try await fixture.rows("SELECT id FROM microvms WHERE id = $1", [.text(newVM)]).isEmpty)
            let site = try await fixture.store.site(id: world.siteID, tenantID: world.tenantID)
            #expect(site?.lastHeartbeatAt == ProtoTimestamp(date: StoreFixture.at(10)))

            // Each of the others alone, as `ingestHeartbeat` goes on after the batch (the
            // moved agent's with the placement the store recorded, its right one).
            for index in 1..<members.count {
                let alone = members[index]
                let ingest = { try await fixture.store.ingestHeartbeat(alone.heartbeat, lease: alone.lease, now: alone.now) }
                switch index {
                case 1: #expect(await storeError(ingest)?.code == .unauthorized)
                case 2: #expect(try await ingest().heartbeatSeq == 5)
                case 5: #expect(try await ingest().leased.map(\.planID) == [pending.planID])
                default: #expect(try await ingest().leased.isEmpty)
                }
            }
            #expect(try await state(agents[1]) == (StoreFixture.at(1), 5, 2))
            #expect(try await state(agents[2]) == (StoreFixture.at(1), 5, 2))
            for agent in [agents[3], agents[4], busyWorld.agent] {
                #expect(try await state(agent) == (StoreFixture.at(10), 6, 5))
            }
            #expect(try await fixture.microVM(newVM, world: world)?.state == .running)
        }
    }

    @Test("""
        a batch writes each agent's software and each host's facts, NetBird status and hypervisors as a heartbeat alone \
        would; what a heartbeat leaves out keeps its stored value
        """, arguments: testedDialects)
    func batchWritesWhatEachHeartbeatCarries(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let world = try await fixture.world()
            let agents = try await fixture.agents(2, in: world)
            func status(_ peers: Int32) -> NetbirdStatus {
                NetbirdStatus(connected: true, state: .connected, reason: "ready \(peers)", peerId: "peer-\(peers)", ipv4: "100.64.0.\(peers)",
                              managementUrl: "https://netbird.example", networkId: nil, peersConnected: peers, peersTotal: peers + 1,
                              managementConnected: true, signalConnected: false, fqdn: "edge-\(peers).netbird.cloud")
            }
            for agent in agents {
                var first = fixture.heartbeat(agent.agentID, seq: 1, osHostname: "box", cpu: 2, netbird: status(1))
                first.agentVersion = "1.0.0"
                first.hypervisors = ["qemu"]
                first.hypervisor = "qemu"
                _ = try await fixture.store.ingestHeartbeat(first, lease: StoreFixture.lease, now: StoreFixture.at(1))
            }
            var changed = fixture.heartbeat(agents[0].agentID, seq: 2, osHostname: "box-2", cpu: 6, netbird: status(2))
            changed.agentVersion = "2.0.0"
            changed.hypervisors = ["cloud-hypervisor", "qemu"]
            changed.hypervisor = "cloud-hypervisor"
            let bare = fixture.heartbeat(agents[1].agentID, seq: 2, cpu: 7)
            let members = [changed, bare].enumerated().map { index, heartbeat in
                SQLStore.HeartbeatBatchMember(heartbeat: heartbeat, placement: agents[index].placement, lease: StoreFixture.lease,
                                              now: StoreFixture.at(Double(10 + index)))
            }
            let outcomes = await SQLStore.runHeartbeatBatch(members, database: fixture.database, siteClock: fixture.store.siteHeartbeatClock,
                                                            logger: silentLogger)
            #expect(outcomes.map { $0 != nil } == [true, true])

            let hosts = try await fixture.store.listHosts(tenantID: world.tenantID, siteID: world.siteID)
            let written = try #require(hosts.first { $0.id == agents[0].hostID })
            #expect(written.osHostname == "box-2" && written.cpuCoresTotal == 6 && written.netbird == status(2))
            #expect(written.hypervisors == ["cloud-hypervisor", "qemu"] && written.hypervisor == "cloud-hypervisor")
            let kept = try #require(hosts.first { $0.id == agents[1].hostID })
            #expect(kept.osHostname == "box" && kept.cpuCoresTotal == 7 && kept.netbird == status(1))
            #expect(kept.hypervisors == ["qemu"] && kept.hypervisor == "qemu")
            for (index, version) in ["2.0.0", "1.0.0"].enumerated() {
                let agent = try await fixture.rows("SELECT agent_version, heartbeat_seq, last_heartbeat_at FROM agents WHERE id = $1",
                                                   [.text(agents[index].agentID)])
                #expect(try agent.first?.text("agent_version") == version)
                #expect(try agent.first?.int64("heartbeat_seq") == 2)
                #expect(try agent.first?.int64("last_heartbeat_at") == StoreFixture.at(Double(10 + index)).unixMicroseconds)
            }
        }
    }

    @Test("many agents' heartbeats at once: every one is recorded with its facts, and the site's one plan goes to one agent",
          arguments: testedDialects)
    func concurrentHeartbeatsAreEachRecorded(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let world = try await fixture.world()
            let agents = try await fixture.agents(16, in: world)
            for agent in agents {
                _ = try await fixture.store.ingestHeartbeat(fixture.heartbeat(agent.agentID, seq: 1, cpu: 2), lease: StoreFixture.lease,
                                                            now: StoreFixture.at(1))
            }
            let applied = try await fixture.apply(world, [StoreFixture.action(.create, vm: StoreFixture.id())])
            let leased = try await withThrowingTaskGroup(of: [String].self) { group in
                for (index, agent) in agents.enumerated() {
                    group.addTask {
                        let heartbeat = fixture.heartbeat(agent.agentID, seq: 2, cpu: Int32(10 + index))
                        return try await fixture.store.ingestHeartbeat(heartbeat, lease: StoreFixture.lease, now: StoreFixture.at(2))
                            .leased.map(\.planID)
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            #expect(leased == [applied.planID])
            let hosts = try await fixture.store.listHosts(tenantID: world.tenantID, siteID: world.siteID)
            for (index, agent) in agents.enumerated() {
                let stored = try await fixture.store.agent(id: agent.agentID)
                #expect(stored?.lastHeartbeatAt == StoreFixture.at(2) && stored?.heartbeatSeq == 2)
                #expect(hosts.first { $0.id == agent.hostID }?.cpuCoresTotal == Int32(10 + index))
            }
        }
    }

    @Test("a batch whose transaction fails writes nothing and leaves every heartbeat of it to a transaction of its own",
          arguments: testedDialects)
    func failedBatchLeavesEachHeartbeatAlone(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let (agent, placement) = try await heartbeatingAgent(fixture)
            func member(_ seconds: TimeInterval) -> SQLStore.HeartbeatBatchMember {
                SQLStore.HeartbeatBatchMember(heartbeat: fixture.heartbeat(agent.agentID, seq: Int64(seconds), cpu: 5), placement: placement,
                                              lease: StoreFixture.lease, now: StoreFixture.at(seconds))
            }
            func batch(_ seconds: TimeInterval) async -> [Result<SQLStore.IngestedHeartbeat, StoreError>?] {
                await SQLStore.runHeartbeatBatch([member(seconds), member(seconds)], database: fixture.database,
                                                 siteClock: fixture.store.siteHeartbeatClock, logger: silentLogger)
            }
            // A batch that works first, so that every statement of the next one is prepared
            // (on PostgreSQL) and its liveness update runs before the lease query fails.
            #expect(await batch(2).count == 2)
            #expect(try await fixture.store.agent(id: agent.agentID)?.lastHeartbeatAt == StoreFixture.at(2))
            try await fixture.execute("ALTER TABLE plans RENAME TO plans_away")
            let outcomes = await batch(3)
            try await fixture.execute("ALTER TABLE plans_away RENAME TO plans")
            #expect(outcomes.isEmpty)
            #expect(try await fixture.store.agent(id: agent.agentID)?.lastHeartbeatAt == StoreFixture.at(2))
            let alone = member(3)
            #expect(try await fixture.store.ingestHeartbeat(alone.heartbeat, lease: alone.lease, now: alone.now).heartbeatSeq == 3)
            #expect(try await fixture.store.agent(id: agent.agentID)?.lastHeartbeatAt == StoreFixture.at(3))
        }
    }

    @Test("on PostgreSQL a batch, or a heartbeat alone in the queue, waits at most 200 ms for a row lock and is then left to a transaction of its own",
          arguments: testedDialects.filter { $0 == .postgres })
    func queuedHeartbeatsWaitBrieflyForLocks(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let (agent, placement) = try await heartbeatingAgent(fixture)
            let member = SQLStore.HeartbeatBatchMember(heartbeat: fixture.heartbeat(agent.agentID, seq: 2, cpu: 5), placement: placement,
                                                       lease: StoreFixture.lease, now: StoreFixture.at(2))
            let locked = Mutex(false)
            let holder = Task {
                try await fixture.database.withTransaction { connection throws(StoreError) in
                    _ = try connection.query(SQLStatement(raw: "SELECT id FROM agents WHERE id = $1 FOR UPDATE", [.text(agent.agentID)]))
                    locked.withLock { $0 = true }
                    usleep(2_000_000)
                }
            }
            while !locked.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(10)) }
            for members in [[member, member], [member]] {
                let started = ContinuousClock.now
                let outcomes = await SQLStore.runHeartbeatBatch(members, database: fixture.database,
                                                                siteClock: fixture.store.siteHeartbeatClock, logger: silentLogger)
                #expect(outcomes.isEmpty)
                #expect(ContinuousClock.now - started < .milliseconds(1_500))
            }
            try await holder.value
            let lockTimeout = try await fixture.rows("SHOW lock_timeout")
            #expect(try lockTimeout.first?.text("lock_timeout") == "0")
            #expect(try await fixture.store.ingestHeartbeat(member.heartbeat, lease: member.lease, now: member.now).heartbeatSeq == 2)
        }
    }

    @Test("on PostgreSQL a batch neither locks nor waits for the row of an agent whose heartbeat it refuses",
          arguments: testedDialects.filter { $0 == .postgres })
    func batchDoesNotWaitForRefusedAgents(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let world = try await fixture.world()
            let agents = try await fixture.agents(2, in: world)
            for agent in agents {
                var first = fixture.heartbeat(agent.agentID, seq: 1, cpu: 2)
                first.certificateSerial = "1001"
                _ = try await fixture.store.ingestHeartbeat(first, lease: StoreFixture.lease, now: StoreFixture.at(1))
            }
            let members = [("9999", agents[0]), ("1001", agents[1])].map { serial, agent in
                var heartbeat = fixture.heartbeat(agent.agentID, seq: 2, cpu: 5)
                heartbeat.certificateSerial = serial
                return SQLStore.HeartbeatBatchMember(heartbeat: heartbeat, placement: agent.placement, lease: StoreFixture.lease,
                                                     now: StoreFixture.at(2))
            }
            // The superseded certificate's agent is busy in a transaction of its own.
            let locked = Mutex(false)
            let holder = Task {
                try await fixture.database.withTransaction { connection throws(StoreError) in
                    _ = try connection.query(SQLStatement(raw: "SELECT id FROM agents WHERE id = $1 FOR UPDATE", [.text(agents[0].agentID)]))
                    locked.withLock { $0 = true }
                    usleep(1_000_000)
                }
            }
            while !locked.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(10)) }
            // Waiting for that row would end in the lock timeout, and the batch would leave
            // both heartbeats (no outcome at all).
            let outcomes = await SQLStore.runHeartbeatBatch(members, database: fixture.database,
                                                            siteClock: fixture.store.siteHeartbeatClock, logger: silentLogger)
            #expect(outcomes.map { $0 != nil } == [false, true])
            try await holder.value
            #expect(try await fixture.store.agent(id: agents[1].agentID)?.lastHeartbeatAt == StoreFixture.at(2))
        }
    }

    @Test("""
        a heartbeat alone in the queue that is refused gets its error from the queue's transaction, not from a second one; \
        one whose transaction may pass when run again is left to a transaction of its own
        """, arguments: testedDialects)
    func refusedHeartbeatAloneIsAnsweredOnce(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let (agent, placement) = try await heartbeatingAgent(fixture)
            var heartbeat = fixture.heartbeat(agent.agentID, seq: 2, cpu: 5)
            heartbeat.certificateSerial = "9999"
            let refused = SQLStore.HeartbeatBatchMember(heartbeat: heartbeat, placement: placement, lease: StoreFixture.lease,
                                                        now: StoreFixture.at(2))
            let outcomes = await SQLStore.runHeartbeatBatch([refused], database: fixture.database,
                                                            siteClock: fixture.store.siteHeartbeatClock, logger: silentLogger)
            #expect(outcomes.count == 1)
            guard case .failure(let error)? = outcomes.first ?? nil else {
                Issue.record("no error from the queue's transaction: \(outcomes)")
                return
            }
            #expect(error.code == .unauthorized)
            #expect(try await fixture.store.agent(id: agent.agentID)?.lastHeartbeatAt == StoreFixture.at(1))
            for code in [StoreError.Code.database, .unavailable, .conflict] {
                #expect(SQLStore.mayPassOnRetry(StoreError(code, "")))
            }
            for code in [StoreError.Code.unauthorized, .notFound, .forbidden, .invalid, .leaseLost, .schemaBehind] {
                #expect(!SQLStore.mayPassOnRetry(StoreError(code, "")))
            }
        }
    }

    @Test("the store counts what its heartbeat queue did", arguments: testedDialects)
    func heartbeatQueueIsCounted(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let (agent, _) = try await heartbeatingAgent(fixture)
            #expect(fixture.store.heartbeatQueue == BatchingQueueStatistics())
            _ = try await fixture.store.ingestHeartbeat(fixture.heartbeat(agent.agentID, seq: 2, cpu: 5), lease: StoreFixture.lease,
                                                        now: StoreFixture.at(2))
            var heartbeat = fixture.heartbeat(agent.agentID, seq: 3, cpu: 5)
            heartbeat.certificateSerial = "9999"
            let refused = heartbeat
            #expect(await storeError { try await fixture.store.ingestHeartbeat(refused, lease: StoreFixture.lease, now: StoreFixture.at(3)) }?
                .code == .unauthorized)
            var counted = BatchingQueueStatistics()
            (counted.calls, counted.answered) = (2, 2)
            #expect(fixture.store.heartbeatQueue == counted)
        }
    }

    /// A new agent after its first heartbeat (seq 1, 2 cores, at t0 + 1 s), with its placement.
    private func heartbeatingAgent(_ fixture: StoreFixture) async throws -> (EnrollmentRecord, AgentPlacement) {
        let agent = try await fixture.world().agent
        _ = try await fixture.store.ingestHeartbeat(fixture.heartbeat(agent.agentID, seq: 1, cpu: 2), lease: StoreFixture.lease,
                                                    now: StoreFixture.at(1))
        return (agent, agent.placement)
    }
}

extension EnrollmentRecord {
    /// Where the enrolled agent is.
    var placement: AgentPlacement {
        AgentPlacement(agentID: agentID, tenantID: tenantID, siteID: siteID, hostID: hostID)
    }
}
