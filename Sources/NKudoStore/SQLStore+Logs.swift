public import NKudoSQL
public import Foundation
import Logging
public import NKudoContract

// Execution logs: ingestion, paging, single executions.
extension SQLStore {
    /// The most log lines one page returns.
    static let maximumLogPageSize = 2000

    public func ingestLogs(agentID: String, entries: [LogEntry], now: Date) async throws(StoreError) -> LogIngestResult {
        let result = try await database.withTransaction { connection throws(StoreError) -> LogIngestResult in
            let agent = try Self.requireAgent(agentID, on: connection)
            var executions: [LogTarget: ResolvedLogTarget?] = [:]
            var accepted = 0
            for entry in entries {
                let target = LogTarget(executionID: entry.executionID, actionID: entry.actionID?.nonBlank)
                let resolved: ResolvedLogTarget?
                if let known = executions[target] {
                    resolved = known
                } else {
                    resolved = try Self.resolve(target, agent: agent, on: connection)
                    executions[target] = resolved
                }
                guard let resolved, resolved.lease.admitsLogs(from: agent.id, token: entry.leaseToken) else { continue }
                let executionID = resolved.executionID
                let inserted = try connection.query(
                    SQLStatement(
                        raw: """
                            INSERT INTO execution_logs (tenant_id, site_id, execution_id, sequence, severity, message, emitted_at,
                                                        ingested_at)
                            VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                            ON CONFLICT (tenant_id, execution_id, sequence, emitted_at) DO NOTHING
                            RETURNING id
                            """,
                        [
                            .text(agent.tenantID), .text(agent.siteID), .text(executionID), .int(entry.sequence),
                            .text(entry.severity.storedName ?? "INFO"), .text(entry.message), .timestamp(entry.emittedAt),
                            .timestamp(now),
                        ]
                    )
                )
                accepted += inserted.count
            }
            return LogIngestResult(accepted: accepted, dropped: entries.count - accepted)
        }
        if result.dropped > 0 {
            logger.debug("log entries dropped", metadata: [StoreLogKey.agentID: "\(agentID)", StoreLogKey.count: "\(result.dropped)"])
        }
        return result
    }

    public func execution(id: String, tenantID: String) async throws(StoreError) -> Execution? {
        try await database.withConnection { connection throws(StoreError) in
            try connection.query(
                SQLStatement(raw: "SELECT \(StoreColumns.execution) FROM executions WHERE id = $1 AND tenant_id = $2", [.text(id), .text(tenantID)])
            ).first.map(Execution.init(row:))
        }
    }

    /// Newest first; `limit` is clamped to 1…2000; the cursor is the id of the last line of
    /// the previous page. `.notFound` when the execution is not the tenant's, `.invalid`
    /// for a cursor this store did not hand out.
    public func listExecutionLogs(tenantID: String, executionID: String, limit: Int, cursor: String?) async throws(StoreError) -> LogPage {
        let pageSize = min(max(limit, 1), Self.maximumLogPageSize)
        let before: Int64
        if let cursor = cursor?.nonBlank {
            guard let id = Int64(cursor), id > 0 else { throw StoreError(.invalid, "malformed log cursor") }
            before = id
        } else {
            before = .max
        }
        return try await database.withConnection { connection throws(StoreError) -> LogPage in
            let execution = try connection.query(
                SQLStatement(raw: "SELECT id FROM executions WHERE id = $1 AND tenant_id = $2", [.text(executionID), .text(tenantID)])
            )
            guard !execution.isEmpty else { throw StoreError(.notFound, "execution not found") }
            let rows = try connection.query(
                SQLStatement(
                    raw: """
                        SELECT \(StoreColumns.executionLog) FROM execution_logs
                        WHERE tenant_id = $1 AND execution_id = $2 AND id < $3
                        ORDER BY id DESC
                        LIMIT $4
                        """,
                    [.text(tenantID), .text(executionID), .int(before), .int(Int64(pageSize + 1))]
                )
            )
            let logs = try rows.prefix(pageSize).map { row throws(StoreError) in try ExecutionLog(row: row) }
            let nextCursor = rows.count > pageSize ? logs.last.map { String($0.id) } : nil
            return LogPage(logs: logs, nextCursor: nextCursor)
        }
    }

    /// A log entry's execution reference: an execution id, or a plan id with an action id.
    private struct LogTarget: Hashable {
        let executionID: String
        let actionID: String?
    }

    /// The execution a log entry belongs to and the lease of its plan.
    private struct ResolvedLogTarget {
        let executionID: String
        let lease: PlanLease
    }

    /// The execution of the agent's tenant and site a log entry belongs to: the action's
    /// execution when the entry names a plan and an action (defect 15), else the execution
    /// with that id; `nil` for unknown ones (the entry is dropped).
    private static func resolve(_ target: LogTarget, agent: AgentRecord, on connection: any SQLConnection) throws(StoreError) -> ResolvedLogTarget? {
        let columns = "e.id, p.status, p.lease_agent_id, p.lease_token, p.lease_token_agent_id"
        if let actionID = target.actionID {
            let rows = try connection.query(
                SQLStatement(
                    raw: """
                        SELECT \(columns) FROM executions e JOIN plans p ON p.id = e.plan_id
                        WHERE e.plan_id = $1 AND e.operation_id = $2 AND e.tenant_id = $3 AND e.site_id = $4
                        """,
                    [.text(target.executionID), .text(actionID), .text(agent.tenantID), .text(agent.siteID)]
                )
            )
            if let row = rows.first { return ResolvedLogTarget(executionID: try row.text("id"), lease: try PlanLease(row: row)) }
        }
        let rows = try connection.query(
            SQLStatement(
                raw: """
                    SELECT \(columns) FROM executions e JOIN plans p ON p.id = e.plan_id
                    WHERE e.id = $1 AND e.tenant_id = $2 AND e.site_id = $3
                    """,
                [.text(target.executionID), .text(agent.tenantID), .text(agent.siteID)]
            )
        )
        return try rows.first.map { row throws(StoreError) in ResolvedLogTarget(executionID: try row.text("id"), lease: try PlanLease(row: row)) }
    }
}
