public import NKudoSQL
public import Foundation
import Logging
public import NKudoContract

// Execution logs: ingestion, paging, single executions.
extension SQLStore {
    /// The most log lines one page returns.
    static let maximumLogPageSize = 2000

    /// Stores the lines of executions and plans of the agent's site whose lease the agent
    /// was given (``PlanLease/admitsLogs(from:token:)``). A line names an execution, or a
    /// plan and an action (defect 15), or a plan alone (a plan-level line, stored with the
    /// plan). Replays are dropped; lines that can be placed nowhere are counted as
    /// `unplaced`.
    public func ingestLogs(agentID: String, entries: [LogEntry], now: Date) async throws(StoreError) -> LogIngestResult {
        let result = try await database.withTransaction { connection throws(StoreError) -> LogIngestResult in
            let agent = try Self.requireAgent(agentID, on: connection)
            var targets: [LogTarget: ResolvedLogTarget?] = [:]
            var accepted = 0
            var unplaced = 0
            for entry in entries {
                let target = LogTarget(executionID: entry.executionID, actionID: entry.actionID?.nonBlank)
                let resolved: ResolvedLogTarget?
                if let known = targets[target] {
                    resolved = known
                } else {
                    resolved = try Self.resolve(target, agent: agent, on: connection)
                    targets[target] = resolved
                }
                guard let resolved, resolved.lease.admitsLogs(from: agent.id, token: entry.leaseToken) else {
                    unplaced += 1
                    continue
                }
                let owner: (column: String, id: String) = switch resolved.owner {
                case .execution(let id): ("execution_id", id)
                case .plan(let id): ("plan_id", id)
                }
                let inserted = try connection.query(
                    SQLStatement(
                        raw: """
                            INSERT INTO execution_logs (tenant_id, site_id, \(owner.column), sequence, severity, message, emitted_at,
                                                        ingested_at)
                            VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                            ON CONFLICT DO NOTHING
                            RETURNING id
                            """,
                        [
                            .text(agent.tenantID), .text(agent.siteID), .text(owner.id), .int(entry.sequence),
                            .text(entry.severity.storedName ?? "INFO"), .text(entry.message), .timestamp(entry.emittedAt),
                            .timestamp(now),
                        ]
                    )
                )
                accepted += inserted.count
            }
            return LogIngestResult(accepted: accepted, dropped: entries.count - accepted, unplaced: unplaced)
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
                SQLStatement(raw: "SELECT plan_id FROM executions WHERE id = $1 AND tenant_id = $2", [.text(executionID), .text(tenantID)])
            )
            guard let planID = try execution.first?.text("plan_id") else { throw StoreError(.notFound, "execution not found") }
            // The execution's lines and its plan's plan-level lines, each through its index.
            let rows = try connection.query(
                SQLStatement(
                    raw: """
                        SELECT * FROM (
                            SELECT * FROM (
                                SELECT \(StoreColumns.executionLog) FROM execution_logs l LEFT JOIN executions e ON e.id = l.execution_id
                                WHERE l.tenant_id = $1 AND l.execution_id = $2 AND l.id < $3
                                ORDER BY l.id DESC LIMIT $4
                            ) AS of_execution
                            UNION ALL
                            SELECT * FROM (
                                SELECT \(StoreColumns.executionLog) FROM execution_logs l LEFT JOIN executions e ON e.id = l.execution_id
                                WHERE l.tenant_id = $1 AND l.plan_id = $5 AND l.id < $3
                                ORDER BY l.id DESC LIMIT $4
                            ) AS of_plan
                        ) AS lines
                        ORDER BY id DESC
                        LIMIT $4
                        """,
                    [.text(tenantID), .text(executionID), .int(before), .int(Int64(pageSize + 1)), .text(planID)]
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

    /// Where a log entry goes and the lease of its plan.
    private struct ResolvedLogTarget {
        enum Owner {
            case execution(String)
            case plan(String)
        }

        let owner: Owner
        let lease: PlanLease
    }

    /// Where a log entry of the agent's tenant and site goes: the action's execution when
    /// the entry names a plan and an action (defect 15), else the execution with that id,
    /// else the plan with that id (a plan-level line); `nil` for unknown ones (the entry
    /// is dropped).
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
            if let row = rows.first { return ResolvedLogTarget(owner: .execution(try row.text("id")), lease: try PlanLease(row: row)) }
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
        if let row = rows.first { return ResolvedLogTarget(owner: .execution(try row.text("id")), lease: try PlanLease(row: row)) }
        guard target.actionID == nil else { return nil }
        let plans = try connection.query(
            SQLStatement(
                raw: """
                    SELECT p.id, p.status, p.lease_agent_id, p.lease_token, p.lease_token_agent_id FROM plans p
                    WHERE p.id = $1 AND p.tenant_id = $2 AND p.site_id = $3
                    """,
                [.text(target.executionID), .text(agent.tenantID), .text(agent.siteID)]
            )
        )
        return try plans.first.map { row throws(StoreError) in ResolvedLogTarget(owner: .plan(try row.text("id")), lease: try PlanLease(row: row)) }
    }
}
