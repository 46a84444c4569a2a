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
                let outcome: ExecutionStateMachine.Report =
                    result.ok
                    ? .succeeded
                    : .failed(ExecutionStateMachine.Failure(code: result.errorCode, message: result.message))
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

    /// Records an agent's report on a non-terminal execution of a plan the caller has
    /// locked and the agent holds: persists what ``ExecutionStateMachine`` decides.
    /// Returns the number of VM transitions.
    static func record(
        _ report: ExecutionStateMachine.Report, of execution: StoredExecution, planID: String, agent: AgentRecord,
        startedAt: Date, at time: Date, on connection: any SQLConnection, dialect: SQLDialect
    ) throws(StoreError) -> Int {
        var transitions = 0
        for action in ExecutionStateMachine.actions(for: report, state: execution.state, operation: execution.operation) {
            switch action {
            case .markInProgress:
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
            case .placeVM:
                try connection.execute(
                    SQLStatement(
                        raw: "UPDATE microvms SET host_id = $1, updated_at = $2 WHERE id = $3 AND tenant_id = $4 AND site_id = $5 AND host_id IS NULL",
                        [.text(agent.hostID), .timestamp(time), .text(execution.vmID), .text(agent.tenantID), .text(agent.siteID)]
                    )
                )
            case .finish(let state, let failure):
                try connection.execute(
                    SQLStatement(
                        raw: """
                            UPDATE executions SET state = $1, error_code = $2, error_message = $3, host_id = $4, agent_id = $5,
                                                  started_at = COALESCE(started_at, $6), completed_at = $7, updated_at = $8
                            WHERE id = $9
                            """,
                        [
                            .stored(state), failure.map { .text($0.code) } ?? .null, failure.map { .text($0.message) } ?? .null,
                            .text(agent.hostID), .text(agent.id), .timestamp(startedAt), .timestamp(time), .timestamp(time), .text(execution.id),
                        ]
                    )
                )
            case .cancelPendingExecutions:
                try connection.execute(
                    SQLStatement(
                        raw: "UPDATE executions SET state = 'CANCELLED', updated_at = $1 WHERE plan_id = $2 AND state = 'PENDING'",
                        [.timestamp(time), .text(planID)]
                    )
                )
            case .moveVM(let target):
                let moved = try transitionVM(
                    execution.vmID, to: target, agent: agent, at: time,
                    cause: AuditMetadata(executionID: execution.id, planID: planID, operation: execution.operation.storedName ?? ""),
                    on: connection, dialect: dialect
                )
                transitions += moved ? 1 : 0
            }
        }
        return transitions
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
        switch MicroVMTransition.decide(from: try row.stored("state"), to: state) {
        case .none:
            return false
        case .touch:
            try connection.execute(
                SQLStatement(raw: "UPDATE microvms SET host_id = $1, updated_at = $2 WHERE id = $3", [.text(agent.hostID), .timestamp(time), .text(vmID)])
            )
            return false
        case .move(let from, let to):
            try connection.execute(
                SQLStatement(
                    // The reason of the state it leaves no longer holds; the agent's next
                    // heartbeat gives the new one.
                    raw: """
                        UPDATE microvms SET state = $1, host_id = $2, last_transition_at = $3, updated_at = $4, state_reason = ''
                        WHERE id = $5
                        """,
                    [.stored(to), .text(agent.hostID), .timestamp(time), .timestamp(time), .text(vmID)]
                )
            )
            try auditTransition(vmID: vmID, from: from, to: to, agent: agent, at: time, cause: cause, on: connection)
            return true
        }
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
            NewAuditEvent(
                tenantID: agent.tenantID, siteID: agent.siteID, actorType: .agent, actorID: agent.id,
                action: "microvm.transition", resourceType: "microvm", resourceID: vmID, requestID: nil, sourceIP: nil,
                metadata: metadata, occurredAt: time
            ),
            on: connection
        )
    }

    /// Recomputes a plan's status from its executions and writes what ``PlanRollUp``
    /// decides.
    static func rollUpPlan(_ planID: String, now: Date, on connection: any SQLConnection) throws(StoreError) -> Plan.Status {
        guard let current = try connection.query(SQLStatement(raw: "SELECT status FROM plans WHERE id = $1", [.text(planID)])).first else {
            throw StoreError(.notFound, "plan not found")
        }
        var counts: [Execution.State: Int64] = [:]
        for row in try connection.query(
            SQLStatement(raw: "SELECT state, COUNT(*) AS n FROM executions WHERE plan_id = $1 GROUP BY state", [.text(planID)])
        ) {
            counts[try row.stored("state"), default: 0] += try row.int64("n")
        }
        let rollUp = PlanRollUp(stored: try current.stored("status"), counts: counts)
        switch rollUp.action {
        case .complete(let status):
            try connection.execute(
                SQLStatement(
                    raw: """
                        UPDATE plans SET status = $1, completed_at = $2, lease_agent_id = NULL, lease_expires_at = NULL, updated_at = $3
                        WHERE id = $4
                        """,
                    [.stored(status), .timestamp(now), .timestamp(now), .text(planID)]
                )
            )
        case .update(let status):
            try connection.execute(
                SQLStatement(raw: "UPDATE plans SET status = $1, updated_at = $2 WHERE id = $3", [.stored(status), .timestamp(now), .text(planID)])
            )
        case .none:
            break
        }
        return rollUp.status
    }
}
