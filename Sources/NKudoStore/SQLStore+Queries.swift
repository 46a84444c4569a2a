public import NKudoSQL
public import NKudoContract

// Read-only lists of a site.
extension SQLStore {
    public func listHosts(tenantID: String, siteID: String) async throws(StoreError) -> [NKudoContract.Host] {
        try await database.withConnection { connection throws(StoreError) in
            try connection.query(
                SQLStatement(
                    raw: """
                        SELECT \(StoreColumns.host) FROM hosts h
                        LEFT JOIN agents a ON a.host_id = h.id
                        WHERE h.tenant_id = $1 AND h.site_id = $2 AND h.retired_at IS NULL
                        ORDER BY h.hostname, h.id
                        """,
                    [.text(tenantID), .text(siteID)]
                )
            ).map { row throws(StoreError) in try NKudoContract.Host(row: row) }
        }
    }

    public func listMicroVMs(tenantID: String, siteID: String) async throws(StoreError) -> [MicroVM] {
        try await database.withConnection { connection throws(StoreError) in
            try connection.query(
                SQLStatement(
                    raw: """
                        SELECT \(StoreColumns.microVM) FROM microvms
                        WHERE tenant_id = $1 AND site_id = $2
                        ORDER BY updated_at DESC, id
                        """,
                    [.text(tenantID), .text(siteID)]
                )
            ).map { row throws(StoreError) in try MicroVM(row: row) }
        }
    }

    public func recentExecutions(tenantID: String, siteID: String, limit: Int) async throws(StoreError) -> [Execution] {
        guard limit > 0 else { return [] }
        return try await database.withConnection { connection throws(StoreError) in
            try connection.query(
                SQLStatement(
                    raw: """
                        SELECT \(StoreColumns.execution) FROM executions
                        WHERE tenant_id = $1 AND site_id = $2
                        ORDER BY updated_at DESC, id DESC
                        LIMIT $3
                        """,
                    [.text(tenantID), .text(siteID), .int(Int64(limit))]
                )
            ).map { row throws(StoreError) in try Execution(row: row) }
        }
    }

    public func recentLogs(tenantID: String, siteID: String, limit: Int) async throws(StoreError) -> [ExecutionLog] {
        guard limit > 0 else { return [] }
        return try await database.withConnection { connection throws(StoreError) in
            try connection.query(
                SQLStatement(
                    raw: """
                        SELECT \(StoreColumns.executionLog) FROM execution_logs l LEFT JOIN executions e ON e.id = l.execution_id
                        WHERE l.tenant_id = $1 AND l.site_id = $2
                        ORDER BY l.id DESC
                        LIMIT $3
                        """,
                    [.text(tenantID), .text(siteID), .int(Int64(limit))]
                )
            ).map { row throws(StoreError) in try ExecutionLog(row: row) }
        }
    }
}
