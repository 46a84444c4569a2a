public import NKudoSQL
public import Foundation
import Logging
import NKudoContract

// Retiring hosts.
extension SQLStore {
    /// Retires the host in one transaction, under the row locks of its agent, its site and
    /// itself (the usual order): the agent is retired and OFFLINE, with no credentials in
    /// grace; the host's enrolled name moves to `retired_hostname` so that it can enroll
    /// again; the plans the agent held are released; the host's VMs (not DELETED) become
    /// unplaced and ERROR, each with a `microvm.transition` audit event; the site is rolled up.
    public func retireHost(tenantID: String, siteID: String, hostID: String, now: Date) async throws(StoreError) -> HostRetirement {
        let dialect = self.dialect
        let retired = try await database.withTransaction { connection throws(StoreError) -> HostRetirement in
            let lock = dialect.lockClause(.update)
            let agents = try connection.query(
                SQLStatement(
                    raw: "SELECT \(StoreColumns.agent) FROM agents WHERE host_id = $1 AND tenant_id = $2 AND site_id = $3 \(lock)",
                    [.text(hostID), .text(tenantID), .text(siteID)]
                )
            )
            let agent = try agents.first.map(AgentRecord.init(row:))
            _ = try connection.query(SQLStatement(raw: "SELECT id FROM sites WHERE id = $1 \(lock)", [.text(siteID)]))
            let hosts = try connection.query(
                SQLStatement(
                    raw: "SELECT id FROM hosts WHERE id = $1 AND tenant_id = $2 AND site_id = $3 AND retired_at IS NULL \(lock)",
                    [.text(hostID), .text(tenantID), .text(siteID)]
                )
            )
            guard !hosts.isEmpty else { throw StoreError(.notFound, "host not found") }
            try connection.execute(
                SQLStatement(
                    raw: """
                        UPDATE hosts SET retired_at = $1, retired_hostname = hostname, hostname = 'retired:' || id, updated_at = $1
                        WHERE id = $2
                        """,
                    [.timestamp(now), .text(hostID)]
                )
            )
            var released = 0
            if let agent {
                try connection.execute(
                    SQLStatement(
                        raw: """
                            UPDATE agents SET retired_at = $1, state = 'OFFLINE', previous_cert_serial = NULL,
                                              previous_refresh_token_hash = NULL, previous_credentials_expire_at = NULL, updated_at = $1
                            WHERE id = $2
                            """,
                        [.timestamp(now), .text(agent.id)]
                    )
                )
                released = try connection.query(
                    SQLStatement(
                        raw: """
                            UPDATE plans SET lease_agent_id = NULL, lease_expires_at = NULL, updated_at = $1
                            WHERE lease_agent_id = $2
                            RETURNING id
                            """,
                        [.timestamp(now), .text(agent.id)]
                    )
                ).count
            }
            let orphans = try connection.query(
                SQLStatement(raw: "SELECT id, state FROM microvms WHERE host_id = $1 AND state <> 'DELETED' ORDER BY id \(lock)", [.text(hostID)])
            )
            try connection.execute(
                SQLStatement(
                    raw: """
                        UPDATE microvms SET host_id = NULL, updated_at = $1,
                                            state = 'ERROR', last_transition_at = CASE WHEN state = 'ERROR' THEN last_transition_at ELSE $1 END
                        WHERE host_id = $2 AND state <> 'DELETED'
                        """,
                    [.timestamp(now), .text(hostID)]
                )
            )
            for row in orphans where try row.text("state") != "ERROR" {
                try Self.insertAudit(
                    NewAuditEvent(
                        tenantID: tenantID, siteID: siteID, actorType: .system, actorID: nil, action: "microvm.transition",
                        resourceType: "microvm", resourceID: try row.text("id"), requestID: nil, sourceIP: nil,
                        metadata: AuditMetadata(from: try row.text("state"), to: "ERROR", cause: "host.retire", hostID: hostID),
                        occurredAt: now
                    ),
                    on: connection
                )
            }
            try Self.rollUpSite(siteID, now: now, on: connection, dialect: dialect)
            return HostRetirement(hostID: hostID, agentID: agent?.id ?? "", retiredAt: now, releasedPlans: released)
        }
        logger.notice(
            "host retired",
            metadata: [
                StoreLogKey.tenantID: "\(tenantID)", StoreLogKey.siteID: "\(siteID)", StoreLogKey.hostID: "\(hostID)",
                StoreLogKey.agentID: "\(retired.agentID)", StoreLogKey.count: "\(retired.releasedPlans)",
            ]
        )
        return retired
    }
}
