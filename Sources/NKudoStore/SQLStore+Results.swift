public import NKudoSQL
public import Foundation
import Logging
public import NKudoContract

// Result reports, execution outcomes, VM transitions and plan roll-ups.
extension SQLStore {
    /// Records results under the plan's row lock. The reporting agent must hold the plan's
    /// lease with the report's fencing token (``PlanLease``); a holder whose lease expired
    /// may still report until another agent takes the plan. Results the agent repeats for a
    /// plan it finished, and results for executions that are already terminal, are ignored.
    public func reportResults(_ report: ResultReport, now: Date) async throws(StoreError) -> Plan.Status {
        let dialect = self.dialect
        let (status, transitions) = try await database.withTransaction { connection throws(StoreError) -> (Plan.Status, Int) in
            let agent = try Self.requireAgent(report.agentID, on: connection)
            guard let planLease = try Self.lockedPlanLease(report.planID, agent: agent, on: connection, dialect: dialect) else {
                throw StoreError(.notFound, "plan not found")
            }
            switch planLease.admitsProgress(from: agent.id, token: report.leaseToken) {
            case .holder:
                break
            case .finishedByClaimant:
                return (planLease.status, 0)
            case .refused(_, let message):
                throw StoreError(.leaseLost, message)
            }
            var transitions = 0
            for result in report.results {
                guard let operationID = result.operationID.nonBlank else { continue }
                let executions = try connection.query(
                    SQLStatement(
                        raw: "SELECT id, state, operation_type, vm_id FROM executions WHERE plan_id = $1 AND operation_id = $2",
                        [.text(report.planID), .text(operationID)]
                    )
                )
                guard let execution = try executions.first.map(StoredExecution.init(row:)), !execution.state.isTerminal else { continue }
                let outcome: ExecutionOutcome =
                    result.ok
                    ? .succeeded
                    : .failed(code: result.errorCode?.nonBlank ?? "ACTION_FAILED", message: result.message?.nonBlank ?? "action failed")
                transitions += try Self.record(
                    outcome, of: execution, planID: report.planID, agent: agent,
                    startedAt: result.startedAt ?? result.finishedAt, at: result.finishedAt, on: connection, dialect: dialect
                )
            }
            return (try Self.rollUpPlan(report.planID, now: now, on: connection), transitions)
        }
        logger.info(
            "plan results recorded",
            metadata: [
                StoreLogKey.agentID: "\(report.agentID)", StoreLogKey.planID: "\(report.planID)",
                StoreLogKey.planStatus: "\(status)", StoreLogKey.count: "\(report.results.count)",
                StoreLogKey.vmTransitions: "\(transitions)",
            ]
        )
        return status
    }

    /// An execution as the outcome logic needs it.
    struct StoredExecution {
        let id: String
        let state: Execution.State
        let operation: Execution.Operation
        let vmID: String

        init(row: SQLRow) throws(StoreError) {
            id = try row.text("id")
            state = try row.stored("state")
            operation = try row.stored("operation_type")
            vmID = try row.text("vm_id")
        }
    }

    /// What an agent reports about an execution.
    enum ExecutionOutcome {
        case inProgress
        case succeeded
        case failed(code: String, message: String)
    }

    /// Records an outcome of a non-terminal execution of a plan the caller has locked and
    /// the agent holds. Progress places an unplaced VM on the agent's host; a terminal
    /// outcome moves the execution's VM (§9.12, DELETE → DELETED); a failure also cancels
    /// the plan's PENDING executions. Returns the number of VM transitions.
    static func record(
        _ outcome: ExecutionOutcome, of execution: StoredExecution, planID: String, agent: AgentRecord,
        startedAt: Date, at time: Date, on connection: any SQLConnection, dialect: SQLDialect
    ) throws(StoreError) -> Int {
        switch outcome {
        case .inProgress:
            try connection.execute(
                SQLStatement(
                    raw: """
                        UPDATE executions SET state = 'IN_PROGRESS', host_id = $1, agent_id = $2,
                                              started_at = COALESCE(started_at, $3), updated_at = $4
                        WHERE id = $5 AND state = 'PENDING'
                        """,
                    [.text(agent.hostID), .text(agent.id), .timestamp(startedAt), .timestamp(time), .text(execution.id)]
                )
            )
            try connection.execute(
                SQLStatement(
                    raw: "UPDATE microvms SET host_id = $1, updated_at = $2 WHERE id = $3 AND tenant_id = $4 AND site_id = $5 AND host_id IS NULL",
                    [.text(agent.hostID), .timestamp(time), .text(execution.vmID), .text(agent.tenantID), .text(agent.siteID)]
                )
            )
            return 0
        case .succeeded, .failed:
            let failure: (code: String, message: String)? =
                if case .failed(let code, let message) = outcome { (code, message) } else { nil }
            try connection.execute(
                SQLStatement(
                    raw: """
                        UPDATE executions SET state = $1, error_code = $2, error_message = $3, host_id = $4, agent_id = $5,
                                              started_at = COALESCE(started_at, $6), completed_at = $7, updated_at = $8
                        WHERE id = $9
                        """,
                    [
                        .text(failure == nil ? "SUCCEEDED" : "FAILED"), failure.map { .text($0.code) } ?? .null,
                        failure.map { .text($0.message) } ?? .null, .text(agent.hostID), .text(agent.id),
                        .timestamp(startedAt), .timestamp(time), .timestamp(time), .text(execution.id),
                    ]
                )
            )
            if failure != nil {
                try connection.execute(
                    SQLStatement(
                        raw: "UPDATE executions SET state = 'CANCELLED', updated_at = $1 WHERE plan_id = $2 AND state = 'PENDING'",
                        [.timestamp(time), .text(planID)]
                    )
                )
            }
            let target: MicroVM.State =
                switch (failure == nil, execution.operation) {
                case (false, _): .error
                case (true, .start): .running
                case (true, .delete): .deleted
                default: .stopped
                }
            let moved = try transitionVM(
                execution.vmID, to: target, agent: agent, at: time,
                cause: AuditMetadata(executionID: execution.id, planID: planID, operation: execution.operation.storedName ?? ""),
                on: connection, dialect: dialect
            )
            return moved ? 1 : 0
        }
    }

    /// Moves a VM of the agent's site, placed on the agent's host or not placed yet, to
    /// `state` on the agent's host and records a `microvm.transition` audit event when the
    /// state changes (`last_transition_at` changes only then). A VM placed on another host
    /// stays as it is. DELETED is terminal. Returns whether the state changed.
    static func transitionVM(
        _ vmID: String, to state: MicroVM.State, agent: AgentRecord, at time: Date, cause: AuditMetadata,
        on connection: any SQLConnection, dialect: SQLDialect
    ) throws(StoreError) -> Bool {
        let rows = try connection.query(
            SQLStatement(
                raw: """
                    SELECT state FROM microvms
                    WHERE id = $1 AND tenant_id = $2 AND site_id = $3 AND (host_id IS NULL OR host_id = $4) \(dialect.lockClause(.update))
                    """,
                [.text(vmID), .text(agent.tenantID), .text(agent.siteID), .text(agent.hostID)]
            )
        )
        guard let row = rows.first else { return false }
        let from: MicroVM.State = try row.stored("state")
        guard from != .deleted else { return false }
        guard from != state else {
            try connection.execute(
                SQLStatement(raw: "UPDATE microvms SET host_id = $1, updated_at = $2 WHERE id = $3", [.text(agent.hostID), .timestamp(time), .text(vmID)])
            )
            return false
        }
        try connection.execute(
            SQLStatement(
                raw: "UPDATE microvms SET state = $1, host_id = $2, last_transition_at = $3, updated_at = $4 WHERE id = $5",
                [.stored(state), .text(agent.hostID), .timestamp(time), .timestamp(time), .text(vmID)]
            )
        )
        try auditTransition(vmID: vmID, from: from, to: state, agent: agent, at: time, cause: cause, on: connection)
        return true
    }

    /// The `microvm.transition` audit event of an agent-driven VM state change (`from`
    /// nil: the VM was first reported).
    static func auditTransition(
        vmID: String, from: MicroVM.State?, to: MicroVM.State, agent: AgentRecord, at time: Date, cause: AuditMetadata,
        on connection: any SQLConnection
    ) throws(StoreError) {
        var metadata = cause
        metadata.from = from?.storedName ?? ""
        metadata.to = to.storedName ?? ""
        try insertAudit(
            AuditEvent(
                tenantID: agent.tenantID, siteID: agent.siteID, actorType: .agent, actorID: agent.id,
                action: "microvm.transition", resourceType: "microvm", resourceID: vmID, requestID: nil, sourceIP: nil,
                metadata: metadata, occurredAt: time
            ),
            on: connection
        )
    }

    /// Recomputes a plan's status from its executions (any FAILED → FAILED; all
    /// SUCCEEDED → SUCCEEDED; started, leased or partly done → IN_PROGRESS; else PENDING).
    /// A terminal plan is stamped completed and its lease released.
    static func rollUpPlan(_ planID: String, now: Date, on connection: any SQLConnection) throws(StoreError) -> Plan.Status {
        guard let current = try connection.query(SQLStatement(raw: "SELECT status FROM plans WHERE id = $1", [.text(planID)])).first else {
            throw StoreError(.notFound, "plan not found")
        }
        let stored: Plan.Status = try current.stored("status")
        var counts: [Execution.State: Int64] = [:]
        for row in try connection.query(
            SQLStatement(raw: "SELECT state, COUNT(*) AS n FROM executions WHERE plan_id = $1 GROUP BY state", [.text(planID)])
        ) {
            counts[try row.stored("state"), default: 0] += try row.int64("n")
        }
        let total = counts.values.reduce(0, +)
        let status: Plan.Status
        if counts[.failed, default: 0] > 0 {
            status = .failed
        } else if total > 0 && counts[.succeeded, default: 0] == total {
            status = .succeeded
        } else if counts[.pending, default: 0] + counts[.inProgress, default: 0] == 0 && total > 0 {
            status = .cancelled
        } else if stored == .inProgress || counts[.inProgress, default: 0] > 0 || counts[.succeeded, default: 0] > 0 {
            status = .inProgress
        } else {
            status = .pending
        }
        if status.isTerminal {
            try connection.execute(
                SQLStatement(
                    raw: """
                        UPDATE plans SET status = $1, completed_at = $2, lease_agent_id = NULL, lease_expires_at = NULL, updated_at = $3
                        WHERE id = $4
                        """,
                    [.stored(status), .timestamp(now), .timestamp(now), .text(planID)]
                )
            )
        } else if status != stored {
            try connection.execute(
                SQLStatement(raw: "UPDATE plans SET status = $1, updated_at = $2 WHERE id = $3", [.stored(status), .timestamp(now), .text(planID)])
            )
        }
        return status
    }
}
