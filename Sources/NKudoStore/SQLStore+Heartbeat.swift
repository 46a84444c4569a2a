public import Foundation
import Logging
import NKudoContract

// Heartbeat ingestion: agent liveness, host facts, NetBird status, VM reports, execution
// updates and plan leases, in one transaction.
extension SQLStore {
    /// Ingests the heartbeat and leases plans in one transaction, under the agent's row lock.
    ///
    /// A stale heartbeat (`heartbeat_seq` > 0 and below the stored one) changes nothing of
    /// the agent, its host or its VMs; its execution updates are still recorded and plans
    /// still leased. Execution updates follow the rules of result reports
    /// (``reportResults(_:now:)``) but are skipped, not refused, for plans another agent
    /// holds a live lease on. The site's connectivity is rolled up as in
    /// ``enroll(_:now:)``.
    public func ingestHeartbeat(_ heartbeat: HeartbeatIngest, lease: LeaseOptions, now: Date) async throws(StoreError) -> [LeasedPlanRecord] {
        let dialect = self.dialect
        let ingested = try await database.withTransaction { connection throws(StoreError) -> IngestedHeartbeat in
            // Locks order: agent, site, host, plans, executions, VMs, as in every other
            // operation that takes several of them.
            let agent = try Self.requireAgent(heartbeat.agentID, on: connection, lockClause: dialect.lockClause(.update))
            var ingested = IngestedHeartbeat(storedSeq: agent.heartbeatSeq)
            ingested.stale = heartbeat.heartbeatSeq > 0 && heartbeat.heartbeatSeq < agent.heartbeatSeq
            if !ingested.stale {
                try Self.recordLiveness(of: agent, heartbeat: heartbeat, now: now, on: connection)
                if agent.state == .online {
                    try Self.advanceSiteHeartbeat(agent.siteID, now: now, on: connection)
                } else {
                    try Self.rollUpSite(agent.siteID, now: now, on: connection, dialect: dialect)
                }
                ingested.keptHostname = try Self.recordFacts(heartbeat, agent: agent, now: now, on: connection)
            }
            ingested.vmTransitions += try Self.recordExecutionUpdates(heartbeat.executionUpdates, agent: agent, now: now, on: connection, dialect: dialect)
            if !ingested.stale {
                let reports = try Self.recordVMReports(heartbeat.microVMs, agent: agent, now: now, on: connection, dialect: dialect)
                ingested.vmTransitions += reports.transitions
                ingested.foreignVMs = reports.foreign
            }
            ingested.leased = try Self.leasePlans(to: agent, lease: lease, now: now, on: connection, dialect: dialect)
            return ingested
        }
        var metadata: Logger.Metadata = [StoreLogKey.agentID: "\(heartbeat.agentID)"]
        if ingested.stale {
            metadata[StoreLogKey.heartbeatSeq] = "\(heartbeat.heartbeatSeq)"
            metadata[StoreLogKey.storedHeartbeatSeq] = "\(ingested.storedSeq)"
            logger.notice("stale heartbeat: facts and VM reports ignored", metadata: metadata)
        }
        if let hostname = ingested.keptHostname {
            logger.warning("heartbeat hostname is taken by another host of the site; kept the stored one", metadata: metadata.merging([StoreLogKey.hostname: "\(hostname)"]) { $1 })
        }
        if !ingested.foreignVMs.isEmpty {
            logger.warning(
                "heartbeat reported VMs of another tenant or site; skipped",
                metadata: metadata.merging([StoreLogKey.vmID: "\(ingested.foreignVMs)"]) { $1 }
            )
        }
        if ingested.vmTransitions > 0 {
            logger.debug("heartbeat moved VMs", metadata: metadata.merging([StoreLogKey.count: "\(ingested.vmTransitions)"]) { $1 })
        }
        logLeases(ingested.leased, agentID: heartbeat.agentID)
        return ingested.leased
    }

    /// What a heartbeat transaction did, for the log.
    private struct IngestedHeartbeat: Sendable {
        var storedSeq: Int64
        var stale = false
        var keptHostname: String?
        var foreignVMs: [String] = []
        var vmTransitions = 0
        var leased: [LeasedPlanRecord] = []
    }

    /// How far a site's `last_heartbeat_at` may lag its agents' latest heartbeat.
    static let siteHeartbeatResolution: TimeInterval = 1

    /// The heartbeat of an agent that was ONLINE already cannot change its site's
    /// connectivity (every change of an agent's state rolls its site up under the site's
    /// lock), only the site's `last_heartbeat_at`; that is advanced when it is at least
    /// ``siteHeartbeatResolution`` behind. Before, every heartbeat locked the site row,
    /// counted the site's agents and wrote the row, so all heartbeats of a site queued on
    /// that one row until commit (README, Performance).
    private static func advanceSiteHeartbeat(_ siteID: String, now: Date, on connection: any SQLConnection) throws(StoreError) {
        let stamp = now.unixMicroseconds
        try connection.execute(
            SQLStatement(
                raw: """
                    UPDATE sites SET last_heartbeat_at = $1, updated_at = $2
                    WHERE id = $3 AND (last_heartbeat_at IS NULL OR last_heartbeat_at <= $4)
                    """,
                [.int(stamp), .timestamp(now), .text(siteID), .int(stamp - Int64(siteHeartbeatResolution * 1_000_000))]
            )
        )
    }

    /// Agent ONLINE, heartbeat time and sequence, reported software (nil keeps the stored).
    private static func recordLiveness(of agent: AgentRecord, heartbeat: HeartbeatIngest, now: Date, on connection: any SQLConnection) throws(StoreError) {
        try connection.execute(
            SQLStatement(
                raw: """
                    UPDATE agents SET state = 'ONLINE', last_heartbeat_at = $1, heartbeat_seq = $2,
                                      agent_version = COALESCE(CAST($3 AS TEXT), agent_version),
                                      os = COALESCE(CAST($4 AS TEXT), os),
                                      arch = COALESCE(CAST($5 AS TEXT), arch),
                                      kernel_version = COALESCE(CAST($6 AS TEXT), kernel_version),
                                      updated_at = $7
                    WHERE id = $8
                    """,
                [
                    .timestamp(now), .int(max(agent.heartbeatSeq, heartbeat.heartbeatSeq)), .nonBlank(heartbeat.agentVersion),
                    .nonBlank(heartbeat.os), .nonBlank(heartbeat.arch), .nonBlank(heartbeat.kernelVersion), .timestamp(now),
                    .text(agent.id),
                ]
            )
        )
    }

    /// Host facts and NetBird status. A nil hostname keeps the stored one (defect 14), so
    /// does one another host of the site has; that hostname is returned.
    private static func recordFacts(_ heartbeat: HeartbeatIngest, agent: AgentRecord, now: Date, on connection: any SQLConnection) throws(StoreError) -> String? {
        let hostID = agent.hostID
        var hostname = heartbeat.hostname?.nonBlank
        var kept: String?
        if let wanted = hostname {
            let taken = try connection.query(
                SQLStatement(
                    raw: "SELECT id FROM hosts WHERE tenant_id = $1 AND site_id = $2 AND hostname = $3 AND id <> $4",
                    [.text(agent.tenantID), .text(agent.siteID), .text(wanted), .text(hostID)]
                )
            )
            if !taken.isEmpty {
                kept = wanted
                hostname = nil
            }
        }
        try connection.execute(
            SQLStatement(
                raw: """
                    UPDATE hosts SET hostname = COALESCE(CAST($1 AS TEXT), hostname), cpu_cores_total = $2, memory_bytes_total = $3,
                                     storage_bytes_total = $4, kvm_available = $5, cloud_hypervisor_available = $6,
                                     last_facts_at = $7, updated_at = $8
                    WHERE id = $9
                    """,
                [
                    hostname.map(SQLValue.text) ?? .null, .int(Int64(heartbeat.cpuCoresTotal)), .int(heartbeat.memoryBytesTotal),
                    .int(heartbeat.storageBytesTotal), .flag(heartbeat.kvmAvailable), .flag(heartbeat.cloudHypervisorAvailable),
                    .timestamp(now), .timestamp(now), .text(hostID),
                ]
            )
        )
        if let netbird = heartbeat.netbird {
            try connection.execute(
                SQLStatement(
                    raw: """
                        UPDATE hosts SET netbird_connected = $1, netbird_state = $2, netbird_reason = $3, netbird_peer_id = $4,
                                         netbird_ipv4 = $5, netbird_management_url = $6, netbird_network_id = $7, netbird_fqdn = $8,
                                         netbird_management_connected = $9, netbird_signal_connected = $10,
                                         netbird_peers_connected = $11, netbird_peers_total = $12, netbird_updated_at = $13
                        WHERE id = $14
                        """,
                    [
                        .flag(netbird.connected), .text(netbird.state.storedName ?? "UNSPECIFIED"), .text(netbird.reason),
                        .nonBlank(netbird.peerId), .nonBlank(netbird.ipv4), .nonBlank(netbird.managementUrl),
                        .nonBlank(netbird.networkId), .nonBlank(netbird.fqdn), .flag(netbird.managementConnected),
                        .flag(netbird.signalConnected), .int(Int64(netbird.peersConnected)), .int(Int64(netbird.peersTotal)),
                        .timestamp(now), .text(hostID),
                    ]
                )
            )
        }
        return kept
    }

    /// Execution updates for executions of the agent's tenant and site, following the same
    /// rules as result reports; updates for terminal executions or plans, or for plans
    /// another agent holds a live lease on, are skipped. Returns the VM transitions.
    private static func recordExecutionUpdates(
        _ updates: [HeartbeatIngest.ExecutionUpdate], agent: AgentRecord, now: Date, on connection: any SQLConnection, dialect: SQLDialect
    ) throws(StoreError) -> Int {
        var transitions = 0
        var touchedPlans: [String] = []
        for update in updates {
            let outcome: ExecutionOutcome
            switch update.state {
            case .inProgress: outcome = .inProgress
            case .succeeded: outcome = .succeeded
            case .failed:
                outcome = .failed(code: update.errorCode?.nonBlank ?? "ACTION_FAILED", message: update.errorMessage?.nonBlank ?? "action failed")
            default: continue
            }
            let owner = try connection.query(
                SQLStatement(
                    raw: "SELECT plan_id FROM executions WHERE id = $1 AND tenant_id = $2 AND site_id = $3",
                    [.text(update.executionID), .text(agent.tenantID), .text(agent.siteID)]
                )
            )
            guard let planID = try owner.first?.text("plan_id") else { continue }
            let plans = try connection.query(
                SQLStatement(
                    raw: "SELECT status, lease_agent_id, lease_expires_at FROM plans WHERE id = $1 \(dialect.lockClause(.update))",
                    [.text(planID)]
                )
            )
            guard let plan = plans.first else { continue }
            let status: Plan.Status = try plan.stored("status")
            let holder = try plan.optionalText("lease_agent_id")
            let leaseLive = try (plan.optionalInt64("lease_expires_at") ?? .min) > now.unixMicroseconds
            guard !status.isTerminal, holder == nil || holder == agent.id || !leaseLive else { continue }
            let rows = try connection.query(
                SQLStatement(raw: "SELECT id, state, operation_type, vm_id FROM executions WHERE id = $1", [.text(update.executionID)])
            )
            guard let execution = try rows.first.map(StoredExecution.init(row:)), !execution.state.isTerminal else { continue }
            transitions += try record(
                outcome, of: execution, planID: planID, agent: agent, startedAt: update.updatedAt, at: update.updatedAt,
                on: connection, dialect: dialect
            )
            if !touchedPlans.contains(planID) { touchedPlans.append(planID) }
        }
        for planID in touchedPlans {
            _ = try rollUpPlan(planID, now: now, on: connection)
        }
        return transitions
    }

    /// Reported VMs, scoped to the agent's tenant and site: a VM id of another tenant or
    /// site is skipped, never moved (defect 42); DELETED VMs stay deleted; a new VM is
    /// inserted (its name, when taken in the site, becomes its id). `last_transition_at`
    /// changes only with the state (defect 25).
    ///
    /// The known VMs are read (and locked, in id order) with one statement and updated with
    /// one more, whatever their number: a heartbeat reports every VM of its host each time,
    /// and one round trip per VM was most of the heartbeat's cost (README, Performance).
    /// A report that names an id twice is applied one VM at a time, in order, as before.
    private static func recordVMReports(
        _ reports: [HeartbeatIngest.ReportedVM], agent: AgentRecord, now: Date, on connection: any SQLConnection, dialect: SQLDialect
    ) throws(StoreError) -> (transitions: Int, foreign: [String]) {
        let ids = reports.compactMap { $0.id.nonBlank }
        guard !ids.isEmpty else { return (0, []) }
        if Set(ids).count != ids.count {
            var transitions = 0
            var foreign: [String] = []
            for report in reports {
                let result = try recordVMReportsBatch([report], agent: agent, now: now, on: connection, dialect: dialect)
                transitions += result.transitions
                foreign += result.foreign
            }
            return (transitions, foreign)
        }
        return try recordVMReportsBatch(reports, agent: agent, now: now, on: connection, dialect: dialect)
    }

    /// ``recordVMReports(_:agent:now:on:dialect:)`` for reports with distinct ids.
    private static func recordVMReportsBatch(
        _ reports: [HeartbeatIngest.ReportedVM], agent: AgentRecord, now: Date, on connection: any SQLConnection, dialect: SQLDialect
    ) throws(StoreError) -> (transitions: Int, foreign: [String]) {
        let ids = reports.compactMap { $0.id.nonBlank }
        guard !ids.isEmpty else { return (0, []) }
        let placeholders = (1...ids.count).map { "$\($0)" }.joined(separator: ", ")
        let rows = try connection.query(
            SQLStatement(
                raw: "SELECT id, tenant_id, site_id, state FROM microvms WHERE id IN (\(placeholders)) ORDER BY id \(dialect.lockClause(.update))",
                ids.map(SQLValue.text)
            )
        )
        var stored: [String: SQLRow] = [:]
        for row in rows { stored[try row.text("id")] = row }
        var transitions = 0
        var foreign: [String] = []
        var updates: [(vmID: String, report: HeartbeatIngest.ReportedVM, state: MicroVM.State, from: MicroVM.State)] = []
        let cause = ["source": "heartbeat"]
        for report in reports {
            guard let vmID = report.id.nonBlank else { continue }
            let state: MicroVM.State = report.state.storedName == nil ? .creating : report.state
            if let row = stored[vmID] {
                guard try row.text("tenant_id") == agent.tenantID, try row.text("site_id") == agent.siteID else {
                    foreign.append(vmID)
                    continue
                }
                let from: MicroVM.State = try row.stored("state")
                guard from != .deleted else { continue }
                updates.append((vmID, report, state, from))
            } else {
                var name = report.name.nonBlank ?? vmID
                let taken = try connection.query(
                    SQLStatement(
                        raw: "SELECT id FROM microvms WHERE tenant_id = $1 AND site_id = $2 AND name = $3 AND state <> 'DELETED'",
                        [.text(agent.tenantID), .text(agent.siteID), .text(name)]
                    )
                )
                if !taken.isEmpty { name = vmID }
                let inserted = try connection.query(
                    SQLStatement(
                        raw: """
                            INSERT INTO microvms (id, tenant_id, site_id, host_id, name, state, vcpu_count, memory_mib,
                                                  last_transition_at, created_at, updated_at)
                            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                            ON CONFLICT DO NOTHING
                            RETURNING id
                            """,
                        [
                            .text(vmID), .text(agent.tenantID), .text(agent.siteID), .text(agent.hostID), .text(name), .stored(state),
                            .int(Int64(max(report.vcpuCount, 1))), .int(max(report.memoryMiB, 1)), .timestamp(report.updatedAt),
                            .timestamp(now), .timestamp(now),
                        ]
                    )
                )
                if !inserted.isEmpty {
                    try auditTransition(vmID: vmID, from: nil, to: state, agent: agent, at: report.updatedAt, cause: cause, on: connection)
                    transitions += 1
                }
            }
        }
        guard !updates.isEmpty else { return (transitions, foreign) }
        // One row of parameters per VM after the two shared ones ($1 host, $2 now).
        var bindings: [SQLValue] = [.text(agent.hostID), .timestamp(now)]
        var values: [String] = []
        for update in updates {
            let base = bindings.count
            values.append("(CAST($\(base + 1) AS TEXT), CAST($\(base + 2) AS TEXT), CAST($\(base + 3) AS BIGINT), CAST($\(base + 4) AS BIGINT), CAST($\(base + 5) AS BIGINT))")
            bindings += [
                .text(update.vmID), .stored(update.state), .int(Int64(max(update.report.vcpuCount, 1))), .int(max(update.report.memoryMiB, 1)),
                update.from != update.state ? .timestamp(update.report.updatedAt) : .null,
            ]
        }
        try connection.execute(
            SQLStatement(
                raw: """
                    WITH reported (id, state, vcpu_count, memory_mib, transition_at) AS (VALUES \(values.joined(separator: ", ")))
                    UPDATE microvms SET state = reported.state, host_id = $1, vcpu_count = reported.vcpu_count,
                                        memory_mib = reported.memory_mib,
                                        last_transition_at = COALESCE(reported.transition_at, microvms.last_transition_at), updated_at = $2
                    FROM reported
                    WHERE microvms.id = reported.id
                    """,
                bindings
            )
        )
        for update in updates where update.from != update.state {
            try auditTransition(vmID: update.vmID, from: update.from, to: update.state, agent: agent, at: update.report.updatedAt,
                                cause: cause, on: connection)
            transitions += 1
        }
        return (transitions, foreign)
    }
}
