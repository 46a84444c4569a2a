import Foundation
import NKudoContract
import Testing

@testable import NKudoStore
import NKudoSQL
import SQLTestSupport

// Logs and the read-only lists.
extension StoreTests {
    private static func entry(_ executionID: String, action: String? = nil, sequence: Int64, at second: TimeInterval, severity: ExecutionLog.Severity = .info) -> LogEntry {
        LogEntry(executionID: executionID, actionID: action, sequence: sequence, severity: severity, message: "line \(sequence)", emittedAt: StoreFixture.at(second))
    }

    @Test("defect 30: logs are deduplicated by (execution, sequence, emitted_at), so a restarted sequence is kept", arguments: testedDialects)
    func logDeduplication(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let world = try await fixture.world()
            let execution = try #require(try await fixture.applyLeased(world, [StoreFixture.action(.create, vm: StoreFixture.id())]).executions.first)
            let first = try await fixture.store.ingestLogs(
                agentID: world.agent.agentID,
                entries: [Self.entry(execution.id, sequence: 1, at: 1), Self.entry(execution.id, sequence: 2, at: 2), Self.entry(execution.id, sequence: 2, at: 2)],
                now: StoreFixture.at(3)
            )
            #expect(first == LogIngestResult(accepted: 2, dropped: 1))
            let restarted = try await fixture.store.ingestLogs(
                agentID: world.agent.agentID, entries: [Self.entry(execution.id, sequence: 1, at: 10), Self.entry(execution.id, sequence: 2, at: 2)], now: StoreFixture.at(11)
            )
            #expect(restarted == LogIngestResult(accepted: 1, dropped: 1))
            let page = try await fixture.store.listExecutionLogs(tenantID: world.tenantID, executionID: execution.id, limit: 10, cursor: nil)
            #expect(page.logs.map(\.sequence) == [1, 2, 1])
            let newest = try #require(page.logs.first)
            #expect(newest.tenantId == world.tenantID && newest.executionId == execution.id && newest.severity == .info && newest.message == "line 1")
            #expect(newest.emittedAt == ProtoTimestamp(date: StoreFixture.at(10)) && newest.ingestedAt == ProtoTimestamp(date: StoreFixture.at(11)))
        }
    }

    @Test("defect 15: a log entry naming a plan id and an action id is stored under that action's execution; one naming the plan alone with the plan",
          arguments: testedDialects)
    func logsByPlanAndAction(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let world = try await fixture.world()
            let vmID = StoreFixture.id()
            let plan = fixture.plan(world, [StoreFixture.action(.create, vm: vmID, operationID: "c"), StoreFixture.action(.start, vm: vmID, operationID: "s")])
            _ = try await fixture.store.applyPlan(plan, now: StoreFixture.t0)
            _ = try await fixture.store.leasePlans(agentID: world.agent.agentID, lease: StoreFixture.lease, now: StoreFixture.t0)
            let result = try await fixture.store.ingestLogs(
                agentID: world.agent.agentID,
                entries: [Self.entry(plan.planID, action: "s", sequence: 1, at: 1), Self.entry(plan.planID, action: "c", sequence: 2, at: 2), Self.entry(plan.planID, sequence: 3, at: 3)],
                now: StoreFixture.at(4)
            )
            #expect(result == LogIngestResult(accepted: 3, dropped: 0))
            let start = try await fixture.store.listExecutionLogs(tenantID: world.tenantID, executionID: plan.executionIDs[1], limit: 10, cursor: nil)
            #expect(start.logs.map(\.sequence) == [3, 1])
            let create = try await fixture.store.listExecutionLogs(tenantID: world.tenantID, executionID: plan.executionIDs[0], limit: 10, cursor: nil)
            #expect(create.logs.map(\.sequence) == [3, 2])
            #expect(create.logs.map(\.executionId) == ["", plan.executionIDs[0]])
            #expect(create.logs.allSatisfy { $0.planId == plan.planID })
        }
    }

    @Test("log entries for unknown executions or those of another tenant or site are dropped", arguments: testedDialects)
    func foreignLogsAreDropped(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let world = try await fixture.world()
            let execution = try #require(try await fixture.applyLeased(world, [StoreFixture.action(.create, vm: StoreFixture.id())]).executions.first)
            let stranger = try await fixture.world()
            let sibling = try await fixture.agent(tenantID: world.tenantID, siteID: try await fixture.site(tenantID: world.tenantID).id)
            for agentID in [stranger.agent.agentID, sibling.agentID] {
                let result = try await fixture.store.ingestLogs(
                    agentID: agentID, entries: [Self.entry(execution.id, sequence: 1, at: 1), Self.entry("nope", sequence: 2, at: 1)], now: StoreFixture.at(2)
                )
                #expect(result == LogIngestResult(accepted: 0, dropped: 2, unplaced: 2))
            }
            #expect(try await fixture.rows("SELECT id FROM execution_logs").isEmpty)
            #expect(await storeError { try await fixture.store.listExecutionLogs(tenantID: stranger.tenantID, executionID: execution.id, limit: 10, cursor: nil) }?.code == .notFound)
        }
    }

    @Test("plan-level lines: kept with their plan, paged with each execution's lines, replays dropped; other agents' and sites' refused",
          arguments: testedDialects)
    func planLevelLines(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let world = try await fixture.world()
            let vmID = StoreFixture.id()
            let plan = fixture.plan(world, [StoreFixture.action(.create, vm: vmID, operationID: "c"), StoreFixture.action(.start, vm: vmID, operationID: "s")])
            _ = try await fixture.store.applyPlan(plan, now: StoreFixture.t0)
            _ = try await fixture.store.leasePlans(agentID: world.agent.agentID, lease: StoreFixture.lease, now: StoreFixture.t0)
            let agentID = world.agent.agentID
            let lines = [Self.entry(plan.planID, sequence: 1, at: 1), Self.entry(plan.executionIDs[0], sequence: 2, at: 2),
                         Self.entry(plan.planID, sequence: 3, at: 3), Self.entry(plan.executionIDs[1], sequence: 4, at: 4),
                         Self.entry(plan.planID, sequence: 5, at: 5)]
            #expect(try await fixture.store.ingestLogs(agentID: agentID, entries: lines, now: StoreFixture.at(6)) == LogIngestResult(accepted: 5, dropped: 0))
            #expect(try await fixture.store.ingestLogs(agentID: agentID, entries: [lines[0]], now: StoreFixture.at(7)) == LogIngestResult(accepted: 0, dropped: 1))
            var pages: [[Int64]] = []
            var cursor: String?
            repeat {
                let page = try await fixture.store.listExecutionLogs(tenantID: world.tenantID, executionID: plan.executionIDs[0], limit: 2, cursor: cursor)
                pages.append(page.logs.map(\.sequence))
                cursor = page.nextCursor
            } while cursor != nil
            #expect(pages == [[5, 3], [2, 1]])
            let recent = try await fixture.store.recentLogs(tenantID: world.tenantID, siteID: world.siteID, limit: 10)
            #expect(recent.map(\.sequence) == [5, 4, 3, 2, 1])
            #expect(recent.allSatisfy { $0.planId == plan.planID })
            // Another agent of the site (no lease) and an agent of another site place nothing.
            let sibling = try await fixture.agent(tenantID: world.tenantID, siteID: world.siteID)
            let stranger = try await fixture.world()
            for other in [sibling.agentID, stranger.agent.agentID] {
                let refused = try await fixture.store.ingestLogs(agentID: other, entries: [Self.entry(plan.planID, sequence: 9, at: 9)], now: StoreFixture.at(9))
                #expect(refused == LogIngestResult(accepted: 0, dropped: 1, unplaced: 1))
            }
        }
    }

    @Test("defect 31: execution logs page newest first with an opaque cursor; the limit is clamped to 1…2000", arguments: testedDialects)
    func logPaging(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let world = try await fixture.world()
            let execution = try #require(try await fixture.applyLeased(world, [StoreFixture.action(.create, vm: StoreFixture.id())]).executions.first)
            _ = try await fixture.store.ingestLogs(
                agentID: world.agent.agentID, entries: (1...5).map { Self.entry(execution.id, sequence: $0, at: TimeInterval($0)) }, now: StoreFixture.at(6)
            )
            var sequences: [[Int64]] = []
            var cursor: String?
            repeat {
                let page = try await fixture.store.listExecutionLogs(tenantID: world.tenantID, executionID: execution.id, limit: 2, cursor: cursor)
                sequences.append(page.logs.map(\.sequence))
                cursor = page.nextCursor
            } while cursor != nil
            #expect(sequences == [[5, 4], [3, 2], [1]])
            #expect(try await fixture.store.listExecutionLogs(tenantID: world.tenantID, executionID: execution.id, limit: 0, cursor: nil).logs.count == 1)
            #expect(try await fixture.store.listExecutionLogs(tenantID: world.tenantID, executionID: execution.id, limit: 5000, cursor: nil).logs.count == 5)
            let exact = try await fixture.store.listExecutionLogs(tenantID: world.tenantID, executionID: execution.id, limit: 5, cursor: nil)
            #expect(exact.nextCursor == nil)
            let malformed = await storeError { try await fixture.store.listExecutionLogs(tenantID: world.tenantID, executionID: execution.id, limit: 2, cursor: "abc") }
            #expect(malformed?.code == .invalid)
        }
    }

    @Test("recent executions and logs of a site, newest first, limited", arguments: testedDialects)
    func recentExecutionsAndLogs(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let world = try await fixture.world()
            var executionIDs: [String] = []
            for second in 0..<3 {
                let applied = try await fixture.apply(world, [StoreFixture.action(.create, vm: StoreFixture.id())], at: StoreFixture.at(TimeInterval(second)))
                executionIDs.append(applied.executions[0].id)
            }
            let other = try await fixture.world()
            _ = try await fixture.apply(other, [StoreFixture.action(.create, vm: StoreFixture.id())], at: StoreFixture.at(9))
            let recent = try await fixture.store.recentExecutions(tenantID: world.tenantID, siteID: world.siteID, limit: 2)
            #expect(recent.map(\.id) == [executionIDs[2], executionIDs[1]])
            #expect(try await fixture.store.recentExecutions(tenantID: world.tenantID, siteID: world.siteID, limit: 0).isEmpty)

            _ = try await fixture.store.leasePlans(agentID: world.agent.agentID, lease: StoreFixture.lease, now: StoreFixture.at(5))
            _ = try await fixture.store.ingestLogs(
                agentID: world.agent.agentID, entries: executionIDs.enumerated().map { Self.entry($1, sequence: Int64($0), at: 5) }, now: StoreFixture.at(6)
            )
            let logs = try await fixture.store.recentLogs(tenantID: world.tenantID, siteID: world.siteID, limit: 2)
            #expect(logs.map(\.executionId) == [executionIDs[2], executionIDs[1]])
            #expect(try await fixture.store.recentLogs(tenantID: other.tenantID, siteID: other.siteID, limit: 10).isEmpty)
        }
    }

    @Test("microVMs are listed most recently updated first, per site", arguments: testedDialects)
    func listMicroVMs(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let world = try await fixture.world()
            let older = StoreFixture.id()
            let newer = StoreFixture.id()
            _ = try await fixture.apply(world, [StoreFixture.action(.create, vm: older)], at: StoreFixture.at(1))
            _ = try await fixture.apply(world, [StoreFixture.action(.create, vm: newer)], at: StoreFixture.at(2))
            #expect(try await fixture.store.listMicroVMs(tenantID: world.tenantID, siteID: world.siteID).map(\.id) == [newer, older])
            let other = try await fixture.world()
            #expect(try await fixture.store.listMicroVMs(tenantID: other.tenantID, siteID: world.siteID).isEmpty)
        }
    }

    @Test("hosts are listed by hostname; a host without an agent is OFFLINE", arguments: testedDialects)
    func listHosts(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let tenant = try await fixture.tenant()
            let site = try await fixture.site(tenantID: tenant.id)
            _ = try await fixture.agent(tenantID: tenant.id, siteID: site.id, hostname: "zulu")
            _ = try await fixture.agent(tenantID: tenant.id, siteID: site.id, hostname: "alpha")
            try await fixture.execute(
                "INSERT INTO hosts (id, tenant_id, site_id, hostname, created_at, updated_at) VALUES ($1, $2, $3, 'mike', 0, 0)",
                [.text(StoreFixture.id()), .text(tenant.id), .text(site.id)]
            )
            let hosts = try await fixture.store.listHosts(tenantID: tenant.id, siteID: site.id)
            #expect(hosts.map(\.hostname) == ["alpha", "mike", "zulu"])
            #expect(hosts.map(\.agentState) == [.online, .offline, .online])
            #expect(hosts[1].agentLastHeartbeatAt == nil)
        }
    }
}

extension StoreTests {
    @Test("upgrade: a schema-3 database keeps every log line with its id (cursors stay valid) and then stores plan-level lines",
          arguments: testedDialects)
    func upgradeFromSchema3(dialect: SQLDialect) async throws {
        try await withTestDatabase(dialect) { storage, database in
            let old = MigrationRunner(database: database, migrations: Migration.embedded(for: dialect).filter { $0.version <= 3 }, logger: silentLogger)
            #expect(try await old.migrate().map(\.version) == [1, 2, 3])
            let store = SQLStore(database: database, logger: silentLogger)
            let fixture = StoreFixture(store: store, database: database, storage: storage)
            // The previous release's world, through its own API, with log lines.
            let world = try await fixture.world()
            let (vmID, planID, executionID) = (StoreFixture.id(), StoreFixture.id(), StoreFixture.id())
            let t = StoreFixture.t0.unixMicroseconds
            // The previous release's plan, leased to the agent, as its own SQL wrote it.
            try await fixture.execute("""
                INSERT INTO microvms (id, tenant_id, site_id, name, state, vcpu_count, memory_mib, created_at, updated_at)
                VALUES ($1, $2, $3, 'web', 'CREATING', 1, 256, $4, $4)
                """, [.text(vmID), .text(world.tenantID), .text(world.siteID), .int(t)])
            try await fixture.execute("""
                INSERT INTO plans (id, tenant_id, site_id, idempotency_key, request_hash, plan_version, status, lease_agent_id, lease_expires_at,
                                   lease_token, lease_token_agent_id, started_at, created_at, updated_at)
                VALUES ($1, $2, $3, 'k', 'h', 1, 'IN_PROGRESS', $4, $5, 1, $4, $6, $6, $6)
                """, [.text(planID), .text(world.tenantID), .text(world.siteID), .text(world.agent.agentID), .int(t + 45_000_000), .int(t)])
            try await fixture.execute("""
                INSERT INTO executions (id, tenant_id, site_id, plan_id, ordinal, operation_id, operation_type, vm_id, vm_name, vcpu_count,
                                        memory_mib, payload_json, state, created_at, updated_at)
                VALUES ($1, $2, $3, $4, 0, 'c', 'CREATE', $5, 'web', 1, 256, '{}', 'PENDING', $6, $6)
                """, [.text(executionID), .text(world.tenantID), .text(world.siteID), .text(planID), .text(vmID), .int(t)])
            try await database.withTransaction { connection throws(StoreError) in
                for sequence in 1...3 {
                    try connection.execute(SQLStatement(
                        raw: """
                            INSERT INTO execution_logs (tenant_id, site_id, execution_id, sequence, severity, message, emitted_at, ingested_at)
                            VALUES ($1, $2, $3, $4, 'INFO', 'old line', $5, $5)
                            """,
                        [.text(world.tenantID), .text(world.siteID), .text(executionID), .int(Int64(sequence)), .int(t + Int64(sequence))]))
                }
            }
            // The previous release's cursor after two lines is the id of the second newest.
            let ids = try await fixture.rows("SELECT id FROM execution_logs ORDER BY id DESC").map { row throws(StoreError) in try row.int64("id") }

            #expect(try await store.migrate() == ["0004_plan_logs.sql", "0005_real_microvms.sql", "0006_console_sessions.sql"])
            try await store.checkSchema()
            let after = try await store.listExecutionLogs(tenantID: world.tenantID, executionID: executionID, limit: 10, cursor: nil)
            #expect(after.logs.map(\.id) == ids && after.logs.map(\.sequence) == [3, 2, 1])
            let rest = try await store.listExecutionLogs(tenantID: world.tenantID, executionID: executionID, limit: 10, cursor: String(ids[1]))
            #expect(rest.logs.map(\.sequence) == [1], "a cursor handed out before the upgrade")
            let planLine = LogEntry(executionID: planID, actionID: nil, sequence: 1, severity: .info, message: "plan execution started",
                                    emittedAt: StoreFixture.at(10))
            #expect(try await store.ingestLogs(agentID: world.agent.agentID, entries: [planLine], now: StoreFixture.at(10)).accepted == 1)
            let latest = try await store.listExecutionLogs(tenantID: world.tenantID, executionID: executionID, limit: 1, cursor: nil)
            #expect(latest.logs.first?.message == "plan execution started" && latest.logs.first.map { $0.id > (after.logs.first?.id ?? .max) } == true)
        }
    }
}
