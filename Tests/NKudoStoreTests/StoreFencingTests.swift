import Foundation
import NKudoContract
import Testing

@testable import NKudoStore
import NKudoSQL
import SQLTestSupport

// Issue 11: a plan runs on one host at a time (lease extension, fencing tokens, VM
// ownership), retired hosts, audit retention, and the upgrade from schema 2.
extension StoreTests {
    /// A heartbeat of `agentID` claiming `held` leases and carrying `updates`.
    private static func heartbeat(
        _ fixture: StoreFixture, _ agentID: String, held: [(String, Int64)] = [], updates: [HeartbeatIngest.ExecutionUpdate] = [],
        vms: [HeartbeatIngest.ReportedVM] = []
    ) -> HeartbeatIngest {
        var heartbeat = fixture.heartbeat(agentID, vms: vms, updates: updates)
        heartbeat.heldLeases = held.map { HeartbeatIngest.HeldLeaseClaim(planID: $0.0, leaseToken: $0.1) }
        return heartbeat
    }

    private static let shortLease = LeaseOptions(limit: 5, ttl: 30)

    @Test("issue 11: the holder's heartbeats extend its lease past the TTL, so no other agent of the site gets the plan", arguments: testedDialects)
    func heartbeatsExtendTheLease(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let world = try await fixture.world()
            let other = try await fixture.agent(tenantID: world.tenantID, siteID: world.siteID)
            let plan = fixture.plan(world, [StoreFixture.action(.create, vm: StoreFixture.id(), operationID: "c")])
            _ = try await fixture.store.applyPlan(plan, now: StoreFixture.t0)
            let holder = world.agent.agentID
            let lease = try #require(try await fixture.store.leasePlans(agentID: holder, lease: Self.shortLease, now: StoreFixture.t0).first)
            #expect(lease.leaseToken == 1)
            // A create of 300 s: the holder heartbeats every 15 s, the other agent tries to lease all along.
            for second in stride(from: 15, through: 300, by: 15) {
                let outcome = try await fixture.store.ingestHeartbeat(Self.heartbeat(fixture, holder, held: [(plan.planID, 1)]),
                                                                      lease: Self.shortLease, now: StoreFixture.at(TimeInterval(second)))
                #expect(outcome.rejections.isEmpty && outcome.leased.isEmpty)
                let stolen = try await fixture.store.ingestHeartbeat(Self.heartbeat(fixture, other.agentID), lease: Self.shortLease,
                                                                     now: StoreFixture.at(TimeInterval(second) + 7))
                #expect(stolen.leased.isEmpty, "the other agent gets nothing at \(second + 7) s")
            }
            let report = ResultReport(agentID: holder, planID: plan.planID, results: [StoreFixture.result("c", ok: true, at: StoreFixture.at(301))],
                                      leaseToken: 1)
            #expect(try await fixture.store.reportResults(report, now: StoreFixture.at(301)) == .succeeded)
        }
    }

    @Test("issue 11: an IN_PROGRESS update of the holder extends the lease and places the VM on its host", arguments: testedDialects)
    func progressExtendsTheLease(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let world = try await fixture.world()
            let other = try await fixture.agent(tenantID: world.tenantID, siteID: world.siteID)
            let vmID = StoreFixture.id()
            let plan = fixture.plan(world, [StoreFixture.action(.create, vm: vmID, operationID: "c")])
            _ = try await fixture.store.applyPlan(plan, now: StoreFixture.t0)
            _ = try await fixture.store.leasePlans(agentID: world.agent.agentID, lease: Self.shortLease, now: StoreFixture.t0)
            let progress = HeartbeatIngest.ExecutionUpdate(executionID: plan.executionIDs[0], state: .inProgress, errorCode: nil, errorMessage: nil,
                                                           updatedAt: StoreFixture.at(25), leaseToken: 1)
            _ = try await fixture.store.ingestHeartbeat(Self.heartbeat(fixture, world.agent.agentID, updates: [progress]), lease: Self.shortLease,
                                                        now: StoreFixture.at(25))
            #expect(try await fixture.store.leasePlans(agentID: other.agentID, lease: Self.shortLease, now: StoreFixture.at(40)).isEmpty)
            #expect(try await fixture.microVM(vmID, world: world)?.hostId == world.agent.hostID)
            #expect(try await fixture.store.leasePlans(agentID: other.agentID, lease: Self.shortLease, now: StoreFixture.at(56)).isEmpty,
                    "the VM is on the holder's host now: only its agent may take the plan")
        }
    }

    @Test("issue 11: a plan taken over gets the next token; the stale holder's claims, updates, results and logs are refused", arguments: testedDialects)
    func staleHolderIsFenced(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let world = try await fixture.world()
            let second = try await fixture.agent(tenantID: world.tenantID, siteID: world.siteID)
            let plan = fixture.plan(world, [StoreFixture.action(.create, vm: StoreFixture.id(), operationID: "c")])
            _ = try await fixture.store.applyPlan(plan, now: StoreFixture.t0)
            let stale = world.agent.agentID
            #expect(try await fixture.store.leasePlans(agentID: stale, lease: Self.shortLease, now: StoreFixture.t0).first?.leaseToken == 1)
            // The holder goes silent past the lease; the other agent takes the plan over.
            let takeover = try #require(try await fixture.store.leasePlans(agentID: second.agentID, lease: Self.shortLease, now: StoreFixture.at(31)).first)
            #expect(takeover.leaseToken == 2)

            let succeeded = HeartbeatIngest.ExecutionUpdate(executionID: plan.executionIDs[0], state: .succeeded, errorCode: nil, errorMessage: nil,
                                                            updatedAt: StoreFixture.at(40), leaseToken: 1)
            let outcome = try await fixture.store.ingestHeartbeat(Self.heartbeat(fixture, stale, held: [(plan.planID, 1)], updates: [succeeded]),
                                                                  lease: Self.shortLease, now: StoreFixture.at(40))
            #expect(outcome.rejections.map(\.planId) == [plan.planID])
            #expect(outcome.rejections.first?.reason == .notHolder)
            #expect(outcome.leased.isEmpty)
            #expect(try await fixture.store.execution(id: plan.executionIDs[0], tenantID: world.tenantID)?.state == .pending)

            let results = ResultReport(agentID: stale, planID: plan.planID, results: [StoreFixture.result("c", ok: true, at: StoreFixture.at(41))],
                                       leaseToken: 1)
            #expect(await storeError { try await fixture.store.reportResults(results, now: StoreFixture.at(41)) }?.code == .leaseLost)
            let tokenless = ResultReport(agentID: stale, planID: plan.planID, results: results.results)
            #expect(await storeError { try await fixture.store.reportResults(tokenless, now: StoreFixture.at(41)) }?.code == .leaseLost)
            let logs = try await fixture.store.ingestLogs(
                agentID: stale, entries: [LogEntry(executionID: plan.executionIDs[0], actionID: nil, sequence: 1, severity: .info, message: "stale",
                                                   emittedAt: StoreFixture.at(41), leaseToken: 1)], now: StoreFixture.at(41))
            #expect(logs == LogIngestResult(accepted: 0, dropped: 1, unplaced: 1))

            // The new holder's work counts, under its token; a stale token of its own does not.
            let newLog = LogEntry(executionID: plan.executionIDs[0], actionID: nil, sequence: 1, severity: .info, message: "new", emittedAt: StoreFixture.at(42),
                                  leaseToken: 2)
            #expect(try await fixture.store.ingestLogs(agentID: second.agentID, entries: [newLog], now: StoreFixture.at(42)).accepted == 1)
            var wrongToken = results
            wrongToken.agentID = second.agentID
            #expect(await storeError { try await fixture.store.reportResults(wrongToken, now: StoreFixture.at(43)) }?.code == .leaseLost)
            wrongToken.leaseToken = 2
            #expect(try await fixture.store.reportResults(wrongToken, now: StoreFixture.at(43)) == .succeeded)
            // Late log lines of the plan's last holder are still kept after it finished.
            let late = LogEntry(executionID: plan.executionIDs[0], actionID: nil, sequence: 2, severity: .info, message: "late", emittedAt: StoreFixture.at(44),
                                leaseToken: 2)
            #expect(try await fixture.store.ingestLogs(agentID: second.agentID, entries: [late], now: StoreFixture.at(50)).accepted == 1)
            let finished = try await fixture.store.ingestHeartbeat(Self.heartbeat(fixture, second.agentID, held: [(plan.planID, 2)]),
                                                                   lease: Self.shortLease, now: StoreFixture.at(51))
            #expect(finished.rejections.first?.reason == .planFinished)
        }
    }

    @Test("issue 11: agent Y of the site cannot write agent X's executions, logs or VMs", arguments: testedDialects)
    func otherAgentCannotWrite(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let world = try await fixture.world()
            let intruder = try await fixture.agent(tenantID: world.tenantID, siteID: world.siteID)
            let vmID = StoreFixture.id()
            let plan = fixture.plan(world, [StoreFixture.action(.create, vm: vmID, operationID: "c"), StoreFixture.action(.start, vm: vmID, operationID: "s")])
            _ = try await fixture.store.applyPlan(plan, now: StoreFixture.t0)
            let holder = world.agent.agentID
            _ = try await fixture.store.leasePlans(agentID: holder, lease: Self.shortLease, now: StoreFixture.t0)
            let created = ResultReport(agentID: holder, planID: plan.planID, results: [StoreFixture.result("c", ok: true, at: StoreFixture.at(1))], leaseToken: 1)
            #expect(try await fixture.store.reportResults(created, now: StoreFixture.at(1)) == .inProgress)
            #expect(try await fixture.microVM(vmID, world: world)?.hostId == world.agent.hostID)

            // Y claims the lease, marks the start FAILED, logs into it, and reports the VM as its own.
            for token in [Int64(0), 1] {
                let failed = HeartbeatIngest.ExecutionUpdate(executionID: plan.executionIDs[1], state: .failed, errorCode: "X", errorMessage: "hijack",
                                                             updatedAt: StoreFixture.at(2), leaseToken: token)
                let outcome = try await fixture.store.ingestHeartbeat(
                    Self.heartbeat(fixture, intruder.agentID, held: [(plan.planID, token)], updates: [failed], vms: [StoreFixture.vm(vmID, .deleted)]),
                    lease: Self.shortLease, now: StoreFixture.at(2))
                #expect(outcome.rejections.map(\.planId) == [plan.planID])
                let report = ResultReport(agentID: intruder.agentID, planID: plan.planID,
                                          results: [StoreFixture.result("s", ok: false, at: StoreFixture.at(3))], leaseToken: token)
                #expect(await storeError { try await fixture.store.reportResults(report, now: StoreFixture.at(3)) }?.code == .leaseLost)
                let log = LogEntry(executionID: plan.executionIDs[1], actionID: nil, sequence: token, severity: .error, message: "hijack",
                                   emittedAt: StoreFixture.at(3), leaseToken: token)
                #expect(try await fixture.store.ingestLogs(agentID: intruder.agentID, entries: [log], now: StoreFixture.at(3)).accepted == 0)
            }
            #expect(try await fixture.store.execution(id: plan.executionIDs[1], tenantID: world.tenantID)?.state == .pending)
            let vm = try #require(try await fixture.microVM(vmID, world: world))
            #expect(vm.hostId == world.agent.hostID && vm.state == .stopped)
            #expect(try await fixture.transitions(of: vmID) == ["CREATING→STOPPED"])
            #expect(try await fixture.rows("SELECT id FROM execution_logs").isEmpty)
            #expect(try await fixture.store.leasePlans(agentID: intruder.agentID, lease: Self.shortLease, now: StoreFixture.at(100)).isEmpty,
                    "the plan's VM is on X's host: Y never gets the plan, not even after the lease expired")
        }
    }

    @Test("issue 11: a plan its holder does not claim (it restarted) is delivered to it again with the same token", arguments: testedDialects)
    func unclaimedLeaseIsDeliveredAgain(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let world = try await fixture.world()
            let applied = try await fixture.apply(world, [StoreFixture.action(.create, vm: StoreFixture.id())])
            let agentID = world.agent.agentID
            let first = try await fixture.store.ingestHeartbeat(Self.heartbeat(fixture, agentID), lease: Self.shortLease, now: StoreFixture.at(1))
            #expect(first.leased.map(\.planID) == [applied.planID])
            let claimed = try await fixture.store.ingestHeartbeat(Self.heartbeat(fixture, agentID, held: [(applied.planID, 1)]), lease: Self.shortLease,
                                                                  now: StoreFixture.at(2))
            #expect(claimed.leased.isEmpty)
            let again = try await fixture.store.ingestHeartbeat(Self.heartbeat(fixture, agentID), lease: Self.shortLease, now: StoreFixture.at(3))
            #expect(again.leased.map(\.planID) == [applied.planID])
            #expect(again.leased.first?.leaseToken == 1)
            // NextPlans does not know what the agent holds: a live lease is not sent again.
            #expect(try await fixture.store.leasePlans(agentID: agentID, lease: Self.shortLease, now: StoreFixture.at(4)).isEmpty)
        }
    }

    @Test("issue 11: a plan whose VMs live on two hosts is refused at apply", arguments: testedDialects)
    func planOnTwoHostsIsRefused(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let world = try await fixture.world()
            let other = try await fixture.agent(tenantID: world.tenantID, siteID: world.siteID)
            let (a, b) = (StoreFixture.id(), StoreFixture.id())
            _ = try await fixture.store.ingestHeartbeat(fixture.heartbeat(world.agent.agentID, vms: [StoreFixture.vm(a, .running)]), lease: Self.shortLease,
                                                        now: StoreFixture.at(1))
            _ = try await fixture.store.ingestHeartbeat(fixture.heartbeat(other.agentID, vms: [StoreFixture.vm(b, .running)]), lease: Self.shortLease,
                                                        now: StoreFixture.at(1))
            let error = await storeError { try await fixture.apply(world, [StoreFixture.action(.stop, vm: a), StoreFixture.action(.stop, vm: b)]) }
            #expect(error?.code == .invalid)
            #expect(error?.message.contains("different hosts") == true)
        }
    }

    @Test("issue 11: retiring a host stops its agent, releases its plans, unplaces its VMs and frees its hostname", arguments: testedDialects)
    func retireHost(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let tenant = try await fixture.tenant()
            let site = try await fixture.site(tenantID: tenant.id)
            let retiring = try await fixture.agent(tenantID: tenant.id, siteID: site.id, hostname: "edge-a")
            let other = try await fixture.agent(tenantID: tenant.id, siteID: site.id, hostname: "edge-b")
            let world = StoreFixture.World(tenantID: tenant.id, siteID: site.id, agent: retiring)
            let vmID = StoreFixture.id()
            _ = try await fixture.store.ingestHeartbeat(fixture.heartbeat(retiring.agentID, vms: [StoreFixture.vm(vmID, .running)]),
                                                        lease: Self.shortLease, now: StoreFixture.at(1))
            let applied = try await fixture.apply(world, [StoreFixture.action(.create, vm: StoreFixture.id())], at: StoreFixture.at(2))
            #expect(try await fixture.store.leasePlans(agentID: retiring.agentID, lease: Self.shortLease, now: StoreFixture.at(2)).first?.leaseToken == 1)

            let retired = try await fixture.store.retireHost(tenantID: tenant.id, siteID: site.id, hostID: retiring.hostID, now: StoreFixture.at(3))
            #expect(retired.agentID == retiring.agentID && retired.releasedPlans == 1)
            let agent = try #require(try await fixture.store.agent(id: retiring.agentID))
            #expect(agent.credential(serial: "1001", at: StoreFixture.at(4)) == .retired)
            var heartbeat = fixture.heartbeat(retiring.agentID)
            heartbeat.certificateSerial = "1001"
            #expect(await storeError { try await fixture.store.ingestHeartbeat(heartbeat, lease: Self.shortLease, now: StoreFixture.at(4)) }?.code == .unauthorized)
            #expect(await storeError {
                try await fixture.store.rotateAgentCredentials(
                    CredentialRotation(agentID: retiring.agentID, expected: .certificateSerial("1001"), newCertificateSerial: "9",
                                       newCertificateExpiresAt: StoreFixture.at(99), newRefreshTokenHash: "r", graceUntil: StoreFixture.at(99)),
                    now: StoreFixture.at(4))
            }?.code == .unauthorized)
            // The plan goes to the site's other agent at once, under the next token.
            let takeover = try #require(try await fixture.store.leasePlans(agentID: other.agentID, lease: Self.shortLease, now: StoreFixture.at(4)).first)
            #expect(takeover.planID == applied.planID && takeover.leaseToken == 2)
            let vm = try #require(try await fixture.microVM(vmID, world: world))
            #expect(vm.hostId.isEmpty && vm.state == .error)
            #expect(try await fixture.store.listHosts(tenantID: tenant.id, siteID: site.id).map(\.hostname) == ["edge-b"])
            #expect(try await fixture.store.site(id: site.id, tenantID: tenant.id)?.connectivityState == .online)
            #expect(await storeError {
                try await fixture.store.retireHost(tenantID: tenant.id, siteID: site.id, hostID: retiring.hostID, now: StoreFixture.at(5))
            }?.code == .notFound)
            let stranger = try await fixture.world()
            #expect(await storeError {
                try await fixture.store.retireHost(tenantID: stranger.tenantID, siteID: stranger.siteID, hostID: other.hostID, now: StoreFixture.at(5))
            }?.code == .notFound)
            // The same hostname enrolls again: a new host and agent.
            let again = try await fixture.agent(tenantID: tenant.id, siteID: site.id, hostname: "edge-a", at: StoreFixture.at(6))
            #expect(again.hostID != retiring.hostID)
            #expect(try await fixture.store.listHosts(tenantID: tenant.id, siteID: site.id).map(\.hostname) == ["edge-a", "edge-b"])
        }
    }

    @Test("issue 11: audit events older than the retention are deleted, newer ones kept", arguments: testedDialects)
    func auditRetention(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            for second in [10.0, 20.0, 30.0] {
                try await fixture.store.recordAudit(NewAuditEvent(tenantID: nil, siteID: nil, actorType: .system, actorID: nil, action: "auth.failure",
                                                               resourceType: "rpc", resourceID: "x", requestID: nil, sourceIP: "10.0.0.1",
                                                               occurredAt: StoreFixture.at(second)))
            }
            #expect(try await fixture.store.purgeAuditEvents(before: StoreFixture.at(25)) == 2)
            let id = try #require(try await fixture.rows("SELECT id FROM audit_events").first?.int64("id"))
            try await fixture.store.updateAuditMetadata(id: id, metadata: AuditMetadata(reason: "x", count: 5))
            #expect(try await fixture.rows("SELECT metadata_json FROM audit_events").first?.text("metadata_json") == #"{"count":5,"reason":"x"}"#)
        }
    }

    @Test("upgrade: a schema-2 database keeps every row, every enrolled agent and its leases under schema 3", arguments: testedDialects)
    func upgradeFromSchema2(dialect: SQLDialect) async throws {
        try await withTestDatabase(dialect) { _, database in
            let old = MigrationRunner(database: database, migrations: Migration.embedded(for: dialect).filter { $0.version <= 2 }, logger: silentLogger)
            #expect(try await old.migrate().map(\.version) == [1, 2])
            // The previous release's rows, written with its columns only.
            let (tenant, site, token, host, agent, plan, vm, execution) = (
                StoreFixture.id(), StoreFixture.id(), StoreFixture.id(), StoreFixture.id(), StoreFixture.id(), StoreFixture.id(), StoreFixture.id(),
                StoreFixture.id()
            )
            let t = StoreFixture.t0.unixMicroseconds
            try await database.withTransaction { connection throws(StoreError) in
                try connection.executeScript("""
                    INSERT INTO tenants VALUES ('\(tenant)', 'acme', 'Acme', 'eu', 30, \(t), \(t));
                    INSERT INTO sites VALUES ('\(site)', '\(tenant)', 'zrh', NULL, NULL, 'ONLINE', \(t), \(t), \(t));
                    INSERT INTO enrollment_tokens VALUES ('\(token)', '\(tenant)', '\(site)', 'hash', \(t), \(t), \(t));
                    INSERT INTO hosts (id, tenant_id, site_id, hostname, created_at, updated_at) VALUES ('\(host)', '\(tenant)', '\(site)', 'edge-1', \(t), \(t));
                    INSERT INTO agents (id, tenant_id, site_id, host_id, enrollment_token_id, cert_serial, cert_expires_at, refresh_token_hash,
                                        agent_version, os, arch, machine_id_sha256, primary_mac_sha256, state, heartbeat_seq, enrolled_at,
                                        last_heartbeat_at, created_at, updated_at)
                    VALUES ('\(agent)', '\(tenant)', '\(site)', '\(host)', '\(token)', '77', \(t + 86_400_000_000), 'refresh', '1.0', 'linux', 'amd64',
                            'm', 'p', 'ONLINE', 1733000000000, \(t), \(t), \(t), \(t));
                    INSERT INTO microvms VALUES ('\(vm)', '\(tenant)', '\(site)', NULL, 'web', 'CREATING', 1, 128, NULL, \(t), \(t));
                    INSERT INTO plans (id, tenant_id, site_id, idempotency_key, request_hash, plan_version, status, lease_agent_id, lease_expires_at,
                                       started_at, created_at, updated_at)
                    VALUES ('\(plan)', '\(tenant)', '\(site)', 'k', 'h', 1, 'IN_PROGRESS', '\(agent)', \(t + 45_000_000), \(t), \(t), \(t));
                    INSERT INTO executions (id, tenant_id, site_id, plan_id, ordinal, operation_id, operation_type, vm_id, vm_name, vcpu_count,
                                            memory_mib, payload_json, state, created_at, updated_at)
                    VALUES ('\(execution)', '\(tenant)', '\(site)', '\(plan)', 0, 'c', 'CREATE', '\(vm)', 'web', 1, 128, '{}', 'PENDING', \(t), \(t));
                    """)
            }
            let store = SQLStore(database: database, logger: silentLogger)
            #expect(try await store.migrate() == ["0003_fencing_and_retirement.sql", "0004_plan_logs.sql", "0005_real_microvms.sql", "0006_console_sessions.sql"])
            try await store.checkSchema()
            let upgraded = try #require(try await store.agent(id: agent))
            #expect(upgraded.credential(serial: "77", at: StoreFixture.t0) == .current)
            #expect(upgraded.heartbeatSeq == 1733000000000)
            #expect(try await store.listHosts(tenantID: tenant, siteID: site).map(\.hostname) == ["edge-1"])
            // The plan leased before the upgrade stays its holder's, under token 1; an agent of
            // the previous release (no token) still reports it.
            var heartbeat = HeartbeatIngest(agentID: agent, heartbeatSeq: 1733000000001, agentVersion: nil, os: nil, arch: nil, kernelVersion: nil,
                                            osHostname: "box", cpuCoresTotal: 2, memoryBytesTotal: 1, storageBytesTotal: 1, kvmAvailable: true,
                                            cloudHypervisorAvailable: false, netbird: nil, microVMs: [], executionUpdates: [])
            heartbeat.certificateSerial = "77"
            let outcome = try await store.ingestHeartbeat(heartbeat, lease: LeaseOptions(limit: 2, ttl: 45), now: StoreFixture.at(10))
            #expect(outcome.leased.map(\.planID) == [plan] && outcome.leased.first?.leaseToken == 1)
            let report = ResultReport(agentID: agent, planID: plan, results: [StoreFixture.result("c", ok: true, at: StoreFixture.at(11))])
            #expect(try await store.reportResults(report, now: StoreFixture.at(11)) == .succeeded)
            #expect(try await store.listMicroVMs(tenantID: tenant, siteID: site).first?.hostId == host)
        }
    }
}
