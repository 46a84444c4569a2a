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

    public func microVM(tenantID: String, siteID: String, vmID: String) async throws(StoreError) -> MicroVM? {
        try await database.withConnection { connection throws(StoreError) in
            try connection.query(
                SQLStatement(
                    raw: "SELECT \(StoreColumns.microVM) FROM microvms WHERE id = $1 AND tenant_id = $2 AND site_id = $3",
                    [.text(vmID), .text(tenantID), .text(siteID)]
                )
            ).first.map(MicroVM.init(row:))
        }
    }

    public func listSiteImages(tenantID: String, siteID: String) async throws(StoreError) -> [HostImages] {
        try await database.withConnection { connection throws(StoreError) in
            let hosts = try connection.query(
                SQLStatement(
                    raw: """
                        SELECT h.id, h.hostname, h.kernel_arg_keys, h.images_updated_at, a.state AS agent_state FROM hosts h
                        LEFT JOIN agents a ON a.host_id = h.id
                        WHERE h.tenant_id = $1 AND h.site_id = $2 AND h.retired_at IS NULL
                        ORDER BY h.hostname, h.id
                        """,
                    [.text(tenantID), .text(siteID)]
                )
            )
            let images = try connection.query(
                SQLStatement(
                    raw: "SELECT host_id, name, digest, size_bytes, kind FROM host_images WHERE tenant_id = $1 AND site_id = $2 ORDER BY name",
                    [.text(tenantID), .text(siteID)]
                )
            )
            var byHost: [String: [Image]] = [:]
            for row in images {
                byHost[try row.text("host_id"), default: []].append(
                    Image(name: try row.text("name"), digest: try row.text("digest"), sizeBytes: try row.int64("size_bytes"),
                          kind: try row.stored("kind")))
            }
            return try hosts.map { row throws(StoreError) in
                let id = try row.text("id")
                let keys = try row.text("kernel_arg_keys")
                return HostImages(
                    hostId: id, hostname: try row.text("hostname"),
                    agentState: row["agent_state"] == .null ? .offline : try row.stored("agent_state"),
                    images: byHost[id] ?? [], kernelArgKeys: keys.split(separator: ",").map(String.init),
                    updatedAt: try row.timestamp("images_updated_at"))
            }
        }
    }

    public func microVMConsole(tenantID: String, siteID: String, vmID: String) async throws(StoreError) -> GetMicroVMConsoleResponse? {
        try await database.withConnection { connection throws(StoreError) in
            try connection.query(
                SQLStatement(
                    raw: """
                        SELECT id, host_id, console_tail, console_updated_at FROM microvms
                        WHERE id = $1 AND tenant_id = $2 AND site_id = $3
                        """,
                    [.text(vmID), .text(tenantID), .text(siteID)]
                )
            ).first.map { row throws(StoreError) in
                GetMicroVMConsoleResponse(vmId: try row.text("id"), hostId: try row.optionalText("host_id") ?? "",
                                          console: try row.text("console_tail"), updatedAt: try row.timestamp("console_updated_at"))
            }
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
