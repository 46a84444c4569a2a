public import NKudoSQL
public import NKudoContract

// Reading plans: one plan, a site's plans page by page.
extension SQLStore {
    /// The most plans one page returns.
    static let maximumPlanPageSize = 200

    public func plan(id: String, tenantID: String) async throws(StoreError) -> Plan? {
        try await database.withConnection { connection throws(StoreError) -> Plan? in
            let rows = try connection.query(
                SQLStatement(raw: "SELECT \(StoreColumns.plan) FROM plans WHERE id = $1 AND tenant_id = $2", [.text(id), .text(tenantID)])
            )
            guard let row = rows.first else { return nil }
            return try Plan(row: row, executions: try Self.executions(ofPlan: id, on: connection))
        }
    }

    /// Newest first by version (gap-free per site, so the order of application); `limit` is
    /// clamped to 1…200; the cursor is the version of the last plan of the previous page.
    public func listPlans(tenantID: String, siteID: String, limit: Int, cursor: String?) async throws(StoreError) -> PlanPage {
        let pageSize = min(max(limit, 1), Self.maximumPlanPageSize)
        let before: Int64
        if let cursor = cursor?.nonBlank {
            guard let version = Int64(cursor), version > 0 else { throw StoreError(.invalid, "invalid cursor") }
            before = version
        } else {
            before = .max
        }
        return try await database.withConnection { connection throws(StoreError) -> PlanPage in
            let rows = try connection.query(
                SQLStatement(
                    raw: """
                        SELECT \(StoreColumns.plan) FROM plans
                        WHERE tenant_id = $1 AND site_id = $2 AND plan_version < $3
                        ORDER BY plan_version DESC
                        LIMIT $4
                        """,
                    [.text(tenantID), .text(siteID), .int(before), .int(Int64(pageSize + 1))]
                )
            )
            let page = rows.prefix(pageSize)
            let planIDs = try page.map { row throws(StoreError) in try row.text("id") }
            var executions: [String: [Execution]] = [:]
            if !planIDs.isEmpty {
                let placeholders = planIDs.indices.map { "$\($0 + 3)" }.joined(separator: ", ")
                let executionRows = try connection.query(
                    SQLStatement(
                        raw: """
                            SELECT \(StoreColumns.execution) FROM executions
                            WHERE tenant_id = $1 AND site_id = $2 AND plan_id IN (\(placeholders))
                            ORDER BY plan_id, ordinal
                            """,
                        [.text(tenantID), .text(siteID)] + planIDs.map { .text($0) }
                    )
                )
                for row in executionRows {
                    let execution = try Execution(row: row)
                    executions[execution.planId, default: []].append(execution)
                }
            }
            let plans = try page.map { row throws(StoreError) in
                try Plan(row: row, executions: executions[try row.text("id")] ?? [])
            }
            let nextCursor = rows.count > pageSize ? plans.last.map { String($0.version) } : nil
            return PlanPage(plans: plans, nextCursor: nextCursor)
        }
    }
}
