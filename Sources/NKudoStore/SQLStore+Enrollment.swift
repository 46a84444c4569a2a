public import NKudoSQL
public import Foundation
import Logging

// Enrollment tokens, enrollment, agents and their credentials.
extension SQLStore {
    public func issueEnrollmentToken(_ token: NewEnrollmentToken) async throws(StoreError) -> EnrollmentTokenRecord {
        let issued = try await database.withTransaction { connection throws(StoreError) -> EnrollmentTokenRecord in
            let site = try connection.query(
                SQLStatement(raw: "SELECT id FROM sites WHERE id = $1 AND tenant_id = $2", [.text(token.siteID), .text(token.tenantID)])
            )
            guard !site.isEmpty else { throw StoreError(.notFound, "site not found") }
            let rows = try connection.query(
                SQLStatement(
                    raw: """
                        INSERT INTO enrollment_tokens (id, tenant_id, site_id, token_hash, expires_at, created_at)
                        VALUES ($1, $2, $3, $4, $5, $6)
                        ON CONFLICT DO NOTHING
                        RETURNING id, tenant_id, site_id, expires_at
                        """,
                    [.text(token.id), .text(token.tenantID), .text(token.siteID), .text(token.tokenHash), .timestamp(token.expiresAt), .timestamp(token.createdAt)]
                )
            )
            guard let row = rows.first else {
                throw StoreError(.conflict, "an enrollment token with this id or hash already exists")
            }
            return EnrollmentTokenRecord(
                id: try row.text("id"),
                tenantID: try row.text("tenant_id"),
                siteID: try row.text("site_id"),
                expiresAt: try row.date("expires_at")
            )
        }
        logger.info("enrollment token issued", metadata: [StoreLogKey.tenantID: "\(issued.tenantID)", StoreLogKey.siteID: "\(issued.siteID)"])
        return issued
    }

    /// Enrolls in one transaction: consumes the token with a conditional `UPDATE` (its
    /// row lock queues concurrent enrollments with the same token), upserts the host,
    /// inserts the agent (ONLINE) and rolls the site's connectivity up: ONLINE when all of
    /// its agents are ONLINE, PARTIAL otherwise. The `.unauthorized` message says whether
    /// the token is unknown, used or expired.
    public func enroll(_ enrollment: NewEnrollment, now: Date) async throws(StoreError) -> EnrollmentRecord {
        let dialect = self.dialect
        let enrolled = try await database.withTransaction { connection throws(StoreError) -> EnrollmentRecord in
            // 1. Consume the token. Concurrent enrollments with the same token queue on its
            //    row; once the first commits, the others find `used_at` set. Anything below
            //    that throws rolls the consumption back.
            let consumed = try connection.query(
                SQLStatement(
                    raw: """
                        UPDATE enrollment_tokens SET used_at = $1
                        WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $3
                        RETURNING id, tenant_id, site_id
                        """,
                    [.timestamp(now), .text(enrollment.tokenHash), .timestamp(now)]
                )
            )
            guard let token = consumed.first else {
                throw try Self.unusableTokenError(hash: enrollment.tokenHash, on: connection)
            }
            let tokenID = try token.text("id")
            let tenantID = try token.text("tenant_id")
            let siteID = try token.text("site_id")

            // The site's row lock before anything references the site: the host and agent
            // inserts below take a KEY SHARE lock on it (foreign keys), and upgrading that to
            // the roll-up's FOR UPDATE deadlocked concurrent enrollments into one site on
            // PostgreSQL (found by nkudo-loadgen). Same order as every other operation.
            _ = try connection.query(SQLStatement(raw: "SELECT id FROM sites WHERE id = $1 \(dialect.lockClause(.update))", [.text(siteID)]))

            // 2. The host of this hostname in the site, created if new.
            let host = try connection.query(
                SQLStatement(
                    raw: """
                        INSERT INTO hosts (id, tenant_id, site_id, hostname, created_at, updated_at)
                        VALUES ($1, $2, $3, $4, $5, $6)
                        ON CONFLICT (tenant_id, site_id, hostname) DO UPDATE SET updated_at = excluded.updated_at
                        RETURNING id
                        """,
                    [.text(enrollment.hostID), .text(tenantID), .text(siteID), .text(enrollment.hostname), .timestamp(now), .timestamp(now)]
                )
            )
            guard let hostID = try host.first?.text("id") else {
                throw StoreError(.database, "the host upsert returned no row")
            }
            let existing = try connection.query(SQLStatement(raw: "SELECT id FROM agents WHERE host_id = $1", [.text(hostID)]))
            guard existing.isEmpty else {
                throw StoreError(.conflict, "agent already exists for host", underlying: "host \(enrollment.hostname)")
            }

            // 3. The agent. The unique host and token columns back the checks above up.
            let inserted = try connection.query(
                SQLStatement(
                    raw: """
                        INSERT INTO agents (id, tenant_id, site_id, host_id, enrollment_token_id, cert_serial, cert_expires_at,
                                            refresh_token_hash, agent_version, os, arch, kernel_version, machine_id_sha256,
                                            primary_mac_sha256, state, heartbeat_seq, enrolled_at, last_heartbeat_at,
                                            created_at, updated_at)
                        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 'ONLINE', 0, $15, $16, $17, $18)
                        ON CONFLICT DO NOTHING
                        RETURNING id
                        """,
                    [
                        .text(enrollment.agentID), .text(tenantID), .text(siteID), .text(hostID), .text(tokenID),
                        .text(enrollment.certificateSerial), .timestamp(enrollment.certificateExpiresAt),
                        .text(enrollment.refreshTokenHash), .text(enrollment.agentVersion), .text(enrollment.os),
                        .text(enrollment.arch), .nonBlank(enrollment.kernelVersion), .text(enrollment.machineIDSHA256),
                        .text(enrollment.primaryMACSHA256), .timestamp(now), .timestamp(now), .timestamp(now), .timestamp(now),
                    ]
                )
            )
            guard !inserted.isEmpty else {
                throw StoreError(.conflict, "agent already exists for host", underlying: "the agent id or host is already enrolled")
            }

            // 4. The site's connectivity, now that it has one more ONLINE agent.
            try Self.rollUpSite(siteID, now: now, on: connection, dialect: dialect)
            return EnrollmentRecord(tenantID: tenantID, siteID: siteID, hostID: hostID, agentID: enrollment.agentID)
        }
        logger.info(
            "agent enrolled",
            metadata: [
                StoreLogKey.tenantID: "\(enrolled.tenantID)", StoreLogKey.siteID: "\(enrolled.siteID)",
                StoreLogKey.hostID: "\(enrolled.hostID)", StoreLogKey.agentID: "\(enrolled.agentID)",
            ]
        )
        return enrolled
    }

    public func agent(id: String) async throws(StoreError) -> AgentRecord? {
        try await database.withConnection { connection throws(StoreError) in
            try Self.loadAgent(id, on: connection)
        }
    }

    /// One conditional `UPDATE`. Renewing with the current credentials keeps them as the
    /// previous ones (valid until the new ones are first used or `graceUntil`); renewing
    /// with the previous ones (the response of the last renewal was lost) keeps them as
    /// they are and replaces the new ones, which were never used.
    public func rotateAgentCredentials(_ rotation: CredentialRotation, now: Date) async throws(StoreError) -> AgentRecord {
        let (current, previous, expected) =
            switch rotation.expected {
            case .certificateSerial(let serial): ("cert_serial", "previous_cert_serial", serial)
            case .refreshTokenHash(let hash): ("refresh_token_hash", "previous_refresh_token_hash", hash)
            }
        let rotated = try await database.withTransaction { connection throws(StoreError) -> AgentRecord in
            let rows = try connection.query(
                SQLStatement(
                    raw: """
                        UPDATE agents SET
                            previous_cert_serial = CASE WHEN \(current) = $6 THEN cert_serial ELSE previous_cert_serial END,
                            previous_refresh_token_hash = CASE WHEN \(current) = $6 THEN refresh_token_hash ELSE previous_refresh_token_hash END,
                            previous_credentials_expire_at = CASE WHEN \(current) = $6 THEN $7 ELSE previous_credentials_expire_at END,
                            cert_serial = $1, cert_expires_at = $2, refresh_token_hash = $3, updated_at = $4
                        WHERE id = $5 AND retired_at IS NULL
                          AND (\(current) = $6 OR (\(previous) = $6 AND previous_credentials_expire_at > $4))
                        RETURNING \(StoreColumns.agent)
                        """,
                    [
                        .text(rotation.newCertificateSerial), .timestamp(rotation.newCertificateExpiresAt),
                        .text(rotation.newRefreshTokenHash), .timestamp(now), .text(rotation.agentID), .text(expected),
                        .timestamp(rotation.graceUntil),
                    ]
                )
            )
            guard let row = rows.first else {
                throw StoreError(.unauthorized, "the certificate or refresh token is no longer current",
                                 underlying: "the agent's credentials changed, or it is retired or unknown")
            }
            return try AgentRecord(row: row)
        }
        logger.info("agent credentials rotated", metadata: [StoreLogKey.agentID: "\(rotated.id)"])
        return rotated
    }

    public func confirmCurrentCredentials(agentID: String) async throws(StoreError) {
        _ = try await database.withTransaction { connection throws(StoreError) in
            try connection.execute(
                SQLStatement(
                    raw: """
                        UPDATE agents SET previous_cert_serial = NULL, previous_refresh_token_hash = NULL, previous_credentials_expire_at = NULL
                        WHERE id = $1 AND previous_cert_serial IS NOT NULL
                        """,
                    [.text(agentID)]
                )
            )
        }
    }

    // MARK: Helpers

    /// The agent with this id; `lockClause` (from ``SQLDialect/lockClause(_:)``) locks its row.
    static func loadAgent(_ id: String, on connection: any SQLConnection, lockClause: String = "") throws(StoreError) -> AgentRecord? {
        try connection.query(
            SQLStatement(raw: "SELECT \(StoreColumns.agent) FROM agents WHERE id = $1 \(lockClause)", [.text(id)])
        ).first.map(AgentRecord.init(row:))
    }

    /// The agent with this id, or `.notFound`.
    static func requireAgent(_ id: String, on connection: any SQLConnection, lockClause: String = "") throws(StoreError) -> AgentRecord {
        guard let agent = try loadAgent(id, on: connection, lockClause: lockClause) else {
            throw StoreError(.notFound, "agent not found")
        }
        return agent
    }

    /// Why a token hash consumed nothing: unknown, already used or expired.
    private static func unusableTokenError(hash: String, on connection: any SQLConnection) throws(StoreError) -> StoreError {
        let rows = try connection.query(SQLStatement(raw: "SELECT used_at FROM enrollment_tokens WHERE token_hash = $1", [.text(hash)]))
        guard let row = rows.first else {
            return StoreError(.unauthorized, Self.unusableTokenMessage, underlying: "unknown enrollment token")
        }
        return try row.optionalInt64("used_at") != nil
            ? StoreError(.unauthorized, Self.unusableTokenMessage, underlying: "enrollment token already used")
            : StoreError(.unauthorized, Self.unusableTokenMessage, underlying: "enrollment token expired")
    }

    /// What the client learns of an unusable enrollment token: not whether it exists, was
    /// used or expired (that goes to the log).
    static var unusableTokenMessage: String { "invalid or expired enrollment token" }
}
