public import NKudoSQL
public import Foundation
public import Logging
import NKudoContract
import Synchronization

/// The one `Store` implementation, for SQLite and PostgreSQL alike: every operation is the
/// same SQL text on both (`$n` placeholders, `ON CONFLICT`, `RETURNING`, portable types).
/// The dialects differ only in row locks, which ``SQLDialect/lockClause(_:)`` adds for
/// PostgreSQL; SQLite needs none because its transactions hold the write lock from
/// `BEGIN IMMEDIATE` on.
///
/// Every operation that changes more than one row runs in one transaction. Correctness
/// across several control-plane replicas on one PostgreSQL never relies on catching an
/// error inside a transaction: one-time tokens are consumed by a conditional `UPDATE`,
/// idempotency keys and per-site plan versions are protected by a row lock on the site
/// plus unique constraints, plan leases by `FOR UPDATE SKIP LOCKED`.
public final class SQLStore: Store {
    let database: any SQLDatabase

    /// The connection pool's current use, for metrics.
    public var connectionPool: ConnectionPoolStatistics { database.poolStatistics }
    /// What ``heartbeatBatches`` did, for metrics.
    public var heartbeatQueue: BatchingQueueStatistics { heartbeatBatches.statistics }
    let logger: Logger
    /// Throttles the update of sites' `last_heartbeat_at` by heartbeats.
    let siteHeartbeatClock: SiteHeartbeatClock
    /// Heartbeats of agents ONLINE at their last heartbeat, written many to a transaction
    /// while a batch is running: one `COMMIT` and one round trip for all of them instead
    /// of one each, on the database and on this process's database threads (README,
    /// Performance). One batch at a time, of 64 heartbeats at most: a second one running
    /// beside it made the batches smaller and the control plane's CPU per heartbeat higher
    /// (0.43 against 0.39–0.41 ms at 2,000/s) without sustaining more. Past 1,024 waiting,
    /// heartbeats take the connection pool's queue, as they did before batches.
    let heartbeatBatches: BatchingQueue<HeartbeatBatchMember, Result<IngestedHeartbeat, StoreError>>
    /// Where agents were at their last heartbeat.
    let agentPlacements = AgentPlacements()
    /// The PostgreSQL notification channel of applied plans (payload: the site id).
    static let planChannel = "nkudo_plans"
    private let arrivals = PlanArrivals()
    /// Relays the database's plan notifications into ``planArrivals``, once started.
    private let arrivalsRelay = Mutex<Task<Void, Never>?>(nil)

    /// A store on `database`. Nothing is read or written until the first call.
    ///
    /// - Parameters:
    ///   - database: The SQLite or PostgreSQL database.
    ///   - logger: The logger of the store's events.
    public init(database: any SQLDatabase, logger: Logger) {
        self.database = database
        var logger = logger
        logger[metadataKey: StoreLogKey.dialect] = "\(database.dialect.rawValue)"
        self.logger = logger
        let siteHeartbeatClock = SiteHeartbeatClock()
        self.siteHeartbeatClock = siteHeartbeatClock
        heartbeatBatches = BatchingQueue(maximumRunning: 1, maximumSize: 64, maximumWaiting: 1024) { [logger] members in
            await Self.runHeartbeatBatch(members, database: database, siteClock: siteHeartbeatClock, logger: logger)
        }
    }

    var dialect: SQLDialect { database.dialect }

    /// Plans arriving for sites, from this process and (PostgreSQL) from every replica: the
    /// first use starts listening to the database.
    public var planArrivals: PlanArrivals {
        arrivalsRelay.withLock { relay in
            guard relay == nil, let notifications = database.notifications(on: Self.planChannel) else { return }
            let arrivals = self.arrivals
            relay = Task {
                for await siteID in notifications {
                    await arrivals.signal(siteID: siteID)
                }
            }
        }
        return arrivals
    }

    private var migrationRunner: MigrationRunner {
        MigrationRunner(database: database, migrations: Migration.embedded(for: database.dialect), logger: logger)
    }

    // MARK: Lifecycle

    public func migrate() async throws(StoreError) -> [String] {
        try await migrationRunner.migrate().map(\.name)
    }

    public func checkSchema() async throws(StoreError) {
        let pending = try await migrationRunner.pendingMigrations()
        guard pending.isEmpty else {
            throw StoreError(
                .schemaBehind,
                "the database schema is behind this build; run `nkudo-control-plane migrate`",
                underlying: "pending migrations: \(pending.map(\.name).joined(separator: ", "))"
            )
        }
    }

    public func ping() async throws(StoreError) {
        try await database.withConnection { connection throws(StoreError) in
            _ = try connection.query(SQLStatement(raw: "SELECT 1 AS ok"))
        }
    }

    public func close() async {
        let relay = arrivalsRelay.withLock { $0 }
        await database.close()
        await relay?.value
    }

    // MARK: Audit and statistics

    @discardableResult
    public func recordAudit(_ event: NewAuditEvent) async throws(StoreError) -> Int64 {
        try await database.withTransaction { connection throws(StoreError) in
            try Self.insertAudit(event, on: connection)
        }
    }

    public func updateAuditMetadata(id: Int64, metadata: AuditMetadata) async throws(StoreError) {
        _ = try await database.withTransaction { connection throws(StoreError) in
            try connection.execute(
                SQLStatement(raw: "UPDATE audit_events SET metadata_json = $1 WHERE id = $2", [.text(metadata.json), .int(id)])
            )
        }
    }

    public func purgeAuditEvents(before cutoff: Date) async throws(StoreError) -> Int {
        let purged = try await database.withTransaction { connection throws(StoreError) in
            try connection.query(
                SQLStatement(raw: "DELETE FROM audit_events WHERE occurred_at < $1 RETURNING id", [.timestamp(cutoff)])
            ).count
        }
        if purged > 0 {
            logger.info("audit events past their retention deleted", metadata: [StoreLogKey.count: "\(purged)"])
        }
        return purged
    }

    /// Every known plan status and agent state is present, with 0 when there is none.
    public func statistics() async throws(StoreError) -> StoreStatistics {
        try await database.withConnection { connection throws(StoreError) in
            var plans = Dictionary(uniqueKeysWithValues: Plan.Status.storedNames.values.map { ($0, 0) })
            for row in try connection.query(SQLStatement(raw: "SELECT status AS name, COUNT(*) AS n FROM plans GROUP BY status")) {
                plans[try row.text("name")] = Int(try row.int64("n"))
            }
            var agents = Dictionary(uniqueKeysWithValues: NKudoContract.Host.AgentState.storedNames.values.map { ($0, 0) })
            for row in try connection.query(SQLStatement(raw: "SELECT state AS name, COUNT(*) AS n FROM agents GROUP BY state")) {
                agents[try row.text("name")] = Int(try row.int64("n"))
            }
            return StoreStatistics(plansByStatus: plans, agentsByState: agents)
        }
    }

    /// Appends an audit event within the caller's transaction; returns its id.
    @discardableResult
    static func insertAudit(_ event: NewAuditEvent, on connection: any SQLConnection) throws(StoreError) -> Int64 {
        let rows = try connection.query(
            SQLStatement(
                raw: """
                    INSERT INTO audit_events (tenant_id, site_id, actor_type, actor_id, action, resource_type, resource_id,
                                              request_id, source_ip, metadata_json, occurred_at)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                    RETURNING id
                    """,
                [
                    .nonBlank(event.tenantID), .nonBlank(event.siteID), .stored(event.actorType), .nonBlank(event.actorID),
                    .text(event.action), .text(event.resourceType), .text(event.resourceID), .nonBlank(event.requestID),
                    .nonBlank(event.sourceIP), .text(event.metadata.json), .timestamp(event.occurredAt),
                ]
            )
        )
        guard let id = try rows.first?.int64("id") else { throw StoreError(.database, "the audit insert returned no id") }
        return id
    }

}

/// The row locks a query takes on PostgreSQL.
enum RowLock {
    /// `FOR UPDATE`: wait for the row.
    case update
    /// `FOR UPDATE SKIP LOCKED`: leave rows another transaction holds to it.
    case updateSkipLocked
    /// `FOR NO KEY UPDATE`: wait for the row, as an `UPDATE` of columns no foreign key
    /// refers to does (rows that refer to it can still be inserted meanwhile).
    case noKeyUpdate
}

extension SQLDialect {
    /// The clause that ends a `SELECT` taking `lock`: on PostgreSQL the row lock, on
    /// SQLite nothing (a transaction there holds the database's write lock from its
    /// start, so the rows cannot change under it).
    func lockClause(_ lock: RowLock) -> String {
        switch (self, lock) {
        case (.sqlite, _): return ""
        case (.postgres, .update): return "FOR UPDATE"
        case (.postgres, .updateSkipLocked): return "FOR UPDATE SKIP LOCKED"
        case (.postgres, .noKeyUpdate): return "FOR NO KEY UPDATE"
        }
    }
}

/// Metadata keys of the store's log messages: snake_case, the same spelling the control
/// plane and the agent use for the same thing.
enum StoreLogKey {
    static let dialect = "db_dialect"
    static let tenantID = "tenant_id"
    static let siteID = "site_id"
    static let hostID = "host_id"
    static let agentID = "agent_id"
    static let planID = "plan_id"
    static let planVersion = "plan_version"
    static let planStatus = "plan_status"
    static let vmID = "vm_id"
    static let planIDs = "plan_ids"
    static let hostname = "hostname"
    static let count = "count"
    static let sitesChanged = "sites_changed"
    static let vmTransitions = "vm_transitions"
    static let heartbeatSeq = "heartbeat_seq"
    static let storedHeartbeatSeq = "stored_heartbeat_seq"
    static let error = "error"
}
