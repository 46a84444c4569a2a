public import NKudoSQL
public import Foundation
import Logging
import NKudoContract

// The offline sweep and the connectivity roll-up of sites.
extension SQLStore {
    /// Marks stale agents OFFLINE, then rolls up, each under its row lock, the sites of
    /// those agents and any site whose stored connectivity disagrees with its agents.
    public func sweepOffline(cutoff: Date, now: Date) async throws(StoreError) -> SweepResult {
        let dialect = self.dialect
        let result = try await database.withTransaction { connection throws(StoreError) -> SweepResult in
            // The agents are locked in id order, as a batch of heartbeats locks them
            // (``ingestHeartbeat(_:lease:now:)``): in the order of a scan, the sweep and a
            // batch could each hold an agent the other waits for. (Agent ids are lowercase
            // UUIDs, which sort alike in Swift and in any collation of the database.)
            let marked = try connection.query(
                SQLStatement(
                    raw: """
                        UPDATE agents SET state = 'OFFLINE', updated_at = $1
                        WHERE id IN (SELECT id FROM agents WHERE state <> 'OFFLINE' AND last_heartbeat_at < $2
                                     ORDER BY id \(dialect.lockClause(.noKeyUpdate)))
                          AND state <> 'OFFLINE' AND last_heartbeat_at < $2
                        RETURNING site_id
                        """,
                    [.timestamp(now), .timestamp(cutoff)]
                )
            )
            // The sites of the agents just marked, and any site whose stored connectivity
            // disagrees with its agents, each rolled up again under its row lock (in id
            // order, so that concurrent sweeps cannot deadlock on them).
            var sites = Set(try marked.map { row throws(StoreError) in try row.text("site_id") })
            for rollUp in try Self.siteRollUps(siteID: nil, on: connection) where rollUp.needsWrite {
                sites.insert(rollUp.siteID)
            }
            var changed = 0
            for siteID in sites.sorted() {
                changed += try Self.rollUpSite(siteID, now: now, on: connection, dialect: dialect)
            }
            return SweepResult(agentsMarkedOffline: marked.count, sitesChanged: changed)
        }
        if result.agentsMarkedOffline > 0 || result.sitesChanged > 0 {
            logger.info(
                "offline sweep changed agents or sites",
                metadata: [
                    StoreLogKey.count: "\(result.agentsMarkedOffline)",
                    StoreLogKey.sitesChanged: "\(result.sitesChanged)",
                ]
            )
        }
        return result
    }

    /// Recomputes one site's connectivity from its agents under the site's row lock, so
    /// that concurrent heartbeats and sweeps of the site each see the others' committed
    /// agent states. Writes only when something changes; returns 1 when it wrote.
    @discardableResult
    static func rollUpSite(_ siteID: String, now: Date, on connection: any SQLConnection, dialect: SQLDialect) throws(StoreError) -> Int {
        _ = try connection.query(SQLStatement(raw: "SELECT id FROM sites WHERE id = $1 \(dialect.lockClause(.update))", [.text(siteID)]))
        var written = 0
        for rollUp in try siteRollUps(siteID: siteID, on: connection) where rollUp.needsWrite {
            written += try write(rollUp, now: now, on: connection)
        }
        return written
    }

    /// A site's stored connectivity next to the one its agents imply.
    struct SiteRollUp {
        let siteID: String
        let storedState: String
        let storedLastHeartbeat: Int64?
        let state: String
        /// The latest heartbeat of the site's agents, or the stored value when it has none
        /// (never NULLed: defect 29).
        let lastHeartbeat: Int64?

        var needsWrite: Bool { state != storedState || lastHeartbeat != storedLastHeartbeat }
    }

    /// ONLINE when every agent of the site is ONLINE, PARTIAL when some are, OFFLINE when
    /// none is or the site has no agent (retired agents do not count); one site or all of them.
    private static func siteRollUps(siteID: String?, on connection: any SQLConnection) throws(StoreError) -> [SiteRollUp] {
        let filter = siteID == nil ? "" : "WHERE s.id = $1"
        let rows = try connection.query(
            SQLStatement(
                raw: """
                    SELECT s.id, s.connectivity_state, s.last_heartbeat_at,
                           COUNT(a.id) AS agents_total,
                           COALESCE(SUM(CASE WHEN a.state = 'ONLINE' THEN 1 ELSE 0 END), 0) AS agents_online,
                           MAX(a.last_heartbeat_at) AS agents_last_heartbeat_at
                    FROM sites s
                    LEFT JOIN agents a ON a.site_id = s.id AND a.tenant_id = s.tenant_id AND a.retired_at IS NULL
                    \(filter)
                    GROUP BY s.id, s.connectivity_state, s.last_heartbeat_at
                    """,
                siteID.map { [.text($0)] } ?? []
            )
        )
        return try rows.map { row throws(StoreError) in
            let total = try row.int64("agents_total")
            let online = try row.int64("agents_online")
            let state: Site.ConnectivityState =
                total > 0 && online == total ? .online : online > 0 ? .partial : .offline
            let stored = try row.optionalInt64("last_heartbeat_at")
            let agents = try row.optionalInt64("agents_last_heartbeat_at")
            return SiteRollUp(
                siteID: try row.text("id"),
                storedState: try row.text("connectivity_state"),
                storedLastHeartbeat: stored,
                state: state.storedName ?? "OFFLINE",
                lastHeartbeat: agents.map { max($0, stored ?? $0) } ?? stored
            )
        }
    }

    /// Writes a roll-up if the site still holds the values it was computed from; returns 1
    /// when it wrote.
    private static func write(_ rollUp: SiteRollUp, now: Date, on connection: any SQLConnection) throws(StoreError) -> Int {
        try connection.execute(
            SQLStatement(
                raw: """
                    UPDATE sites SET connectivity_state = $1, last_heartbeat_at = $2, updated_at = $3
                    WHERE id = $4 AND connectivity_state = $5 AND COALESCE(last_heartbeat_at, -1) = $6
                    """,
                [
                    .text(rollUp.state), rollUp.lastHeartbeat.map(SQLValue.int) ?? .null, .timestamp(now),
                    .text(rollUp.siteID), .text(rollUp.storedState), .int(rollUp.storedLastHeartbeat ?? -1),
                ]
            )
        )
    }
}
