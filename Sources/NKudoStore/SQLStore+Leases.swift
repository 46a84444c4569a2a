public import Foundation
import Logging

// Leasing plans to agents.
extension SQLStore {
    /// Lease length when the caller passes none.
    static let defaultLeaseTTL: TimeInterval = 30

    public func leasePlans(agentID: String, lease: LeaseOptions, now: Date) async throws(StoreError) -> [LeasedPlanRecord] {
        let dialect = self.dialect
        let leased = try await database.withTransaction { connection throws(StoreError) -> [LeasedPlanRecord] in
            let agent = try Self.requireAgent(agentID, on: connection)
            return try Self.leasePlans(to: agent, lease: lease, now: now, on: connection, dialect: dialect)
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

    /// Leases to `agent` up to `lease.limit` plans of its site that have PENDING or
    /// IN_PROGRESS executions and no live lease, in version order. Plans another
    /// transaction is leasing are skipped (PostgreSQL), so concurrent leasers never
    /// take the same plan. A plan whose lease this agent still holds is not sent again.
    static func leasePlans(to agent: AgentRecord, lease: LeaseOptions, now: Date, on connection: any SQLConnection, dialect: SQLDialect) throws(StoreError) -> [LeasedPlanRecord] {
        let limit = max(lease.limit, 1)
        let ttl = lease.ttl > 0 ? lease.ttl : defaultLeaseTTL
        let expiresAt = now.addingTimeInterval(ttl)
        let candidates = try connection.query(
            SQLStatement(
                raw: """
                    SELECT p.id FROM plans p
                    WHERE p.tenant_id = $1 AND p.site_id = $2 AND p.status IN ('PENDING', 'IN_PROGRESS')
                      AND (p.lease_agent_id IS NULL OR p.lease_expires_at <= $3)
                      AND EXISTS (SELECT 1 FROM executions e WHERE e.plan_id = p.id AND e.state IN ('PENDING', 'IN_PROGRESS'))
                    ORDER BY p.plan_version
                    LIMIT $4
                    \(dialect.lockClause(.updateSkipLocked))
                    """,
                [.text(agent.tenantID), .text(agent.siteID), .timestamp(now), .int(Int64(limit))]
            )
        )
        var leased: [LeasedPlanRecord] = []
        for candidate in candidates {
            let planID = try candidate.text("id")
            try connection.execute(
                SQLStatement(
                    raw: """
                        UPDATE plans SET lease_agent_id = $1, lease_expires_at = $2, status = 'IN_PROGRESS',
                                         started_at = COALESCE(started_at, $3), updated_at = $4
                        WHERE id = $5
                        """,
                    [.text(agent.id), .timestamp(expiresAt), .timestamp(now), .timestamp(now), .text(planID)]
                )
            )
            let actions = try connection.query(
                SQLStatement(
                    raw: """
                        SELECT id, operation_id, operation_type, vm_id, vm_name, vcpu_count, memory_mib FROM executions
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
                    memoryMiB: try row.int64("memory_mib")
                )
            }
            leased.append(LeasedPlanRecord(planID: planID, leaseExpiresAt: Date(unixMicroseconds: expiresAt.unixMicroseconds), actions: actions))
        }
        return leased
    }
}
