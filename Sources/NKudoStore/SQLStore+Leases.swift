public import NKudoSQL
public import Foundation
import Logging
import NKudoContract

// Leasing plans to agents, extending and fencing their leases.
extension SQLStore {
    /// Lease length when the caller passes none.
    static let defaultLeaseTTL: TimeInterval = 30

    public func leasePlans(agentID: String, lease: LeaseOptions, now: Date) async throws(StoreError) -> [LeasedPlanRecord] {
        let dialect = self.dialect
        let leased = try await database.withTransaction { connection throws(StoreError) -> [LeasedPlanRecord] in
            let agent = try Self.requireAgent(agentID, on: connection)
            return try Self.leasePlans(to: agent, lease: lease, held: nil, now: now, on: connection, dialect: dialect)
        }
        logLeases(leased, agentID: agentID)
        return leased
    }

    func logLeases(_ leased: [LeasedPlanRecord], agentID: String) {
        guard !leased.isEmpty else { return }
        logger.info(
            "plans leased",
            metadata: [StoreLogKey.agentID: "\(agentID)", StoreLogKey.count: "\(leased.count)", StoreLogKey.planIDs: "\(leased.map(\.planID))"]
        )
    }

    /// When a lease granted or extended now ends.
    static func leaseEnd(_ lease: LeaseOptions, now: Date) -> Date {
        now.addingTimeInterval(lease.ttl > 0 ? lease.ttl : defaultLeaseTTL)
    }

    /// Leases to `agent` up to `lease.limit` plans of its site that have PENDING or
    /// IN_PROGRESS executions, no live lease, no VM placed on another host and no pending
    /// CREATE naming an image (disk, kernel or initrd) the agent's host has not reported, in
    /// version order. Plans another transaction is leasing are skipped (PostgreSQL), so concurrent
    /// leasers never take the same plan. A plan whose lease this agent still holds is not
    /// sent again, unless `held` (the plans the agent says it runs) is given and lacks it:
    /// the agent lost it (a restart, a lost response) and gets it again, same token.
    static func leasePlans(
        to agent: AgentRecord, lease: LeaseOptions, held: Set<String>?, now: Date, on connection: any SQLConnection, dialect: SQLDialect
    ) throws(StoreError) -> [LeasedPlanRecord] {
        let candidates = try connection.query(leaseCandidates(of: agent.placement, lease: lease, held: held, now: now, dialect: dialect))
        return try grantLeases(candidates, to: agent, lease: lease, now: now, on: connection)
    }

    /// The query of ``leasePlans(to:lease:held:now:on:dialect:)`` that selects (and, on
    /// PostgreSQL, locks) the plans to lease, for a caller that sends it with other
    /// statements (a heartbeat).
    /// `locking: false` selects the same plans without locking them: a look whether there
    /// is anything to lease at all.
    static func leaseCandidates(
        of agent: AgentPlacement, lease: LeaseOptions, held: Set<String>?, now: Date, dialect: SQLDialect, locking: Bool = true
    ) -> SQLStatement {
        let limit = max(lease.limit, 1)
        var bindings: [SQLValue] = [.text(agent.tenantID), .text(agent.siteID), .timestamp(now), .int(Int64(limit)), .text(agent.hostID)]
        var redelivery = ""
        if let held {
            bindings.append(.text(agent.agentID))
            let placeholders = held.sorted().map { planID in
                bindings.append(.text(planID))
                return "$\(bindings.count)"
            }
            redelivery = placeholders.isEmpty ? "OR p.lease_agent_id = $6" : "OR (p.lease_agent_id = $6 AND p.id NOT IN (\(placeholders.joined(separator: ", "))))"
        }
        return SQLStatement(
            raw: """
                SELECT p.id, p.status, p.lease_agent_id, p.lease_token, p.lease_token_agent_id FROM plans p
                WHERE p.tenant_id = $1 AND p.site_id = $2 AND p.status IN ('PENDING', 'IN_PROGRESS')
                  AND (p.lease_agent_id IS NULL OR p.lease_expires_at <= $3 \(redelivery))
                  AND EXISTS (SELECT 1 FROM executions e WHERE e.plan_id = p.id AND e.state IN ('PENDING', 'IN_PROGRESS'))
                  AND NOT EXISTS (
                      SELECT 1 FROM executions e JOIN microvms v ON v.id = e.vm_id
                      WHERE e.plan_id = p.id AND e.state IN ('PENDING', 'IN_PROGRESS')
                        AND v.host_id IS NOT NULL AND v.host_id <> $5
                  )
                  AND NOT EXISTS (
                      SELECT 1 FROM executions e JOIN microvms v ON v.id = e.vm_id
                      WHERE e.plan_id = p.id AND e.state = 'PENDING' AND e.operation_type = 'CREATE'
                        AND ((v.image <> '' AND NOT EXISTS (SELECT 1 FROM host_images i WHERE i.host_id = $5 AND (i.name = v.image OR i.digest = v.image)))
                             OR (v.kernel <> '' AND NOT EXISTS (SELECT 1 FROM host_images i WHERE i.host_id = $5 AND (i.name = v.kernel OR i.digest = v.kernel)))
                             OR (v.initrd <> '' AND NOT EXISTS (SELECT 1 FROM host_images i WHERE i.host_id = $5 AND (i.name = v.initrd OR i.digest = v.initrd))))
                  )
                ORDER BY p.plan_version
                LIMIT $4
                \(locking ? dialect.lockClause(.updateSkipLocked) : "")
                """,
            bindings
        )
    }

    /// Leases the plans ``leaseCandidates(of:lease:held:now:dialect:locking:)`` selected to `agent`.
    static func grantLeases(
        _ candidates: [SQLRow], to agent: AgentRecord, lease: LeaseOptions, now: Date, on connection: any SQLConnection
    ) throws(StoreError) -> [LeasedPlanRecord] {
        let expiresAt = leaseEnd(lease, now: now)
        var leased: [LeasedPlanRecord] = []
        for candidate in candidates {
            let planID = try candidate.text("id")
            let token = try PlanLease(row: candidate).tokenForLease(to: agent.id)
            try connection.execute(
                SQLStatement(
                    raw: """
                        UPDATE plans SET lease_agent_id = $1, lease_expires_at = $2, lease_token = $3, lease_token_agent_id = $1,
                                         status = 'IN_PROGRESS', started_at = COALESCE(started_at, $4), updated_at = $4
                        WHERE id = $5
                        """,
                    [.text(agent.id), .timestamp(expiresAt), .int(token), .timestamp(now), .text(planID)]
                )
            )
            let actions = try connection.query(
                SQLStatement(
                    raw: """
                        SELECT id, operation_id, operation_type, vm_id, vm_name, vcpu_count, memory_mib, payload_json FROM executions
                        WHERE plan_id = $1 AND state IN ('PENDING', 'IN_PROGRESS')
                        ORDER BY ordinal
                        """,
                    [.text(planID)]
                )
            ).map { row throws(StoreError) in
                LeasedPlanRecord.Action(
                    executionID: try row.text("id"),
                    operationID: try row.text("operation_id"),
                    operation: try row.stored("operation_type"),
                    vmID: try row.text("vm_id"),
                    name: try row.text("vm_name"),
                    vcpuCount: try row.int32("vcpu_count"),
                    memoryMiB: try row.int64("memory_mib"),
                    payloadJSON: try row.text("payload_json")
                )
            }
            leased.append(LeasedPlanRecord(planID: planID, leaseExpiresAt: Date(unixMicroseconds: expiresAt.unixMicroseconds), leaseToken: token,
                                           actions: actions))
        }
        return leased
    }

    /// Extends the leases of the plans the agent claims to hold (with one statement), and
    /// returns the claims it cannot make: plans leased to another agent or with a newer
    /// token, finished plans, plans that do not exist in its site.
    static func extendHeldLeases(
        _ claims: [HeartbeatIngest.HeldLeaseClaim], agent: AgentRecord, lease: LeaseOptions, now: Date, on connection: any SQLConnection
    ) throws(StoreError) -> [LeaseRejection] {
        var latest: [String: Int64] = [:]
        for claim in claims { latest[claim.planID] = claim.leaseToken }
        guard !latest.isEmpty else { return [] }
        var bindings: [SQLValue] = [.text(agent.id), .timestamp(leaseEnd(lease, now: now))]
        var values: [String] = []
        for (planID, token) in latest.sorted(by: { $0.key < $1.key }) {
            values.append("(CAST($\(bindings.count + 1) AS TEXT), CAST($\(bindings.count + 2) AS BIGINT))")
            bindings += [.text(planID), .int(token)]
        }
        let extended = try connection.query(
            SQLStatement(
                raw: """
                    WITH claimed (id, token) AS (VALUES \(values.joined(separator: ", ")))
                    UPDATE plans SET lease_expires_at = CASE WHEN plans.lease_expires_at < $2 THEN $2 ELSE plans.lease_expires_at END
                    FROM claimed
                    WHERE plans.id = claimed.id AND plans.lease_agent_id = $1 AND plans.status IN ('PENDING', 'IN_PROGRESS')
                      AND (claimed.token = 0 OR plans.lease_token = claimed.token)
                    RETURNING plans.id
                    """,
                bindings
            )
        )
        for row in extended { latest[try row.text("id")] = nil }
        guard !latest.isEmpty else { return [] }
        let refused = latest.keys.sorted()
        let placeholders = refused.indices.map { "$\($0 + 3)" }.joined(separator: ", ")
        let rows = try connection.query(
            SQLStatement(
                raw: """
                    SELECT id, status, lease_agent_id, lease_token, lease_token_agent_id FROM plans
                    WHERE tenant_id = $1 AND site_id = $2 AND id IN (\(placeholders))
                    """,
                [.text(agent.tenantID), .text(agent.siteID)] + refused.map(SQLValue.text)
            )
        )
        var leases: [String: PlanLease] = [:]
        for row in rows { leases[try row.text("id")] = try PlanLease(row: row) }
        return refused.map { planID in
            let token = latest[planID] ?? 0
            guard let planLease = leases[planID] else {
                return LeaseRejection(planId: planID, leaseToken: token, reason: .planFinished, message: "no such plan in the agent's site")
            }
            switch planLease.admitsProgress(from: agent.id, token: token) {
            case .refused(let reason, let message):
                return LeaseRejection(planId: planID, leaseToken: token, reason: reason, message: message)
            case .holder, .finishedByClaimant:
                return LeaseRejection(planId: planID, leaseToken: token, reason: .planFinished, message: "the plan is finished")
            }
        }
    }

    /// Extends the lease of a plan whose holder reported progress.
    static func extendLease(of planID: String, lease: LeaseOptions, now: Date, on connection: any SQLConnection) throws(StoreError) {
        try connection.execute(
            SQLStatement(
                raw: "UPDATE plans SET lease_expires_at = $1 WHERE id = $2 AND lease_expires_at < $1",
                [.timestamp(leaseEnd(lease, now: now)), .text(planID)]
            )
        )
    }

    /// The lease columns of a locked plan of the agent's tenant and site, nil when there is none.
    static func lockedPlanLease(_ planID: String, agent: AgentRecord, on connection: any SQLConnection, dialect: SQLDialect) throws(StoreError) -> PlanLease? {
        try connection.query(
            SQLStatement(
                raw: """
                    SELECT status, lease_agent_id, lease_token, lease_token_agent_id FROM plans
                    WHERE id = $1 AND tenant_id = $2 AND site_id = $3 \(dialect.lockClause(.update))
                    """,
                [.text(planID), .text(agent.tenantID), .text(agent.siteID)]
            )
        ).first.map(PlanLease.init(row:))
    }
}

extension PlanLease {
    /// A row with `status`, `lease_agent_id`, `lease_token`, `lease_token_agent_id`.
    init(row: SQLRow) throws(StoreError) {
        self.init(status: try row.stored("status"), holder: try row.optionalText("lease_agent_id"), token: try row.int64("lease_token"),
                  tokenAgent: try row.optionalText("lease_token_agent_id"))
    }
}
