public import NKudoSQL
import NKudoContract

// Reading a tenant's audit trail.
extension SQLStore {
    /// The most audit events one page returns.
    static let maximumAuditPageSize = 500

    /// Newest first by `occurred_at` (then id), through the index on (tenant, occurred_at);
    /// `limit` is clamped to 1…500; the cursor is `<occurred_at µs>.<id>` of the last event
    /// of the previous page. An action ending in `.` matches as a prefix.
    public func listAuditEvents(tenantID: String, filter: AuditEventFilter, limit: Int, cursor: String?) async throws(StoreError) -> AuditEventPage {
        let pageSize = min(max(limit, 1), Self.maximumAuditPageSize)
        var conditions = ["tenant_id = $1"]
        var bindings: [SQLValue] = [.text(tenantID)]
        func bind(_ value: SQLValue) -> String {
            bindings.append(value)
            return "$\(bindings.count)"
        }
        if let cursor = cursor?.nonBlank {
            let (occurredAt, id) = try Self.auditCursor(cursor)
            let at = bind(.int(occurredAt))
            let before = bind(.int(id))
            conditions.append("occurred_at <= \(at) AND (occurred_at < \(at) OR id < \(before))")
        }
        if let action = filter.action?.nonBlank {
            if action.hasSuffix(".") {
                conditions.append("substr(action, 1, \(action.unicodeScalars.count)) = \(bind(.text(action)))")
            } else {
                conditions.append("action = \(bind(.text(action)))")
            }
        }
        if let since = filter.since { conditions.append("occurred_at >= \(bind(.timestamp(since)))") }
        if let until = filter.until { conditions.append("occurred_at < \(bind(.timestamp(until)))") }
        let statement = SQLStatement(
            raw: """
                SELECT \(StoreColumns.auditEvent) FROM audit_events
                WHERE \(conditions.joined(separator: " AND "))
                ORDER BY occurred_at DESC, id DESC
                LIMIT \(bind(.int(Int64(pageSize + 1))))
                """,
            bindings
        )
        return try await database.withConnection { connection throws(StoreError) -> AuditEventPage in
            let rows = try connection.query(statement)
            let page = rows.prefix(pageSize)
            let events = try page.map { row throws(StoreError) in try AuditEvent(row: row) }
            var nextCursor: String?
            if rows.count > pageSize, let last = page.last {
                nextCursor = "\(try last.int64("occurred_at")).\(try last.int64("id"))"
            }
            return AuditEventPage(events: events, nextCursor: nextCursor)
        }
    }

    /// The (occurred_at µs, id) of a cursor `listAuditEvents` handed out.
    private static func auditCursor(_ cursor: String) throws(StoreError) -> (Int64, Int64) {
        let parts = cursor.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let occurredAt = Int64(parts[0]), let id = Int64(parts[1]), id > 0 else {
            throw StoreError(.invalid, "invalid cursor")
        }
        return (occurredAt, id)
    }
}
