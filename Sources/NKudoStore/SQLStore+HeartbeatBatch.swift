import Foundation
import Logging
import NKudoSQL

// Heartbeats written many to a transaction (``SQLStore/heartbeatBatches``).
extension SQLStore {
    /// A call of ``heartbeatBatches``. A heartbeat that came alone is ingested alone, with
    /// its outcome, waiting at most ``batchLockTimeout`` for each row lock: it holds the
    /// queue meanwhile. Its error is its outcome too, unless running again may go
    /// otherwise (``mayPassOnRetry(_:)``: a lock held longer, a lost connection); then it is
    /// left to a transaction of its own outside the queue, which waits as long as it takes.
    /// Several are ``ingestBatch(_:siteClock:on:dialect:)`` in one transaction, nil for
    /// those it leaves to a transaction of their own; when the transaction fails, all of
    /// them are left.
    static func runHeartbeatBatch(
        _ members: [HeartbeatBatchMember], database: any SQLDatabase, siteClock: SiteHeartbeatClock, logger: Logger
    ) async -> [Result<IngestedHeartbeat, StoreError>?] {
        if members.count == 1, let member = members.first {
            do throws(StoreError) {
                return [.success(try await ingestAlone(member.heartbeat, placement: member.placement, lease: member.lease, now: member.now,
                                                       database: database, siteClock: siteClock, waitingForLocks: true))]
            } catch {
                return mayPassOnRetry(error) ? [] : [.failure(error)]
            }
        }
        let dialect = database.dialect
        do throws(StoreError) {
            return try await database.withTransaction { connection throws(StoreError) -> [Result<IngestedHeartbeat, StoreError>?] in
                try ingestBatch(members, siteClock: siteClock, on: connection, dialect: dialect).map { $0.map { .success($0) } }
            }
        } catch {
            logger.notice("a batch of heartbeats failed; each is ingested alone", metadata: [
                StoreLogKey.count: "\(members.count)", StoreLogKey.error: "\(error)",
            ])
            return []
        }
    }

    /// ``ingestReadingAhead(_:placement:lease:now:siteClock:after:on:dialect:)`` of several
    /// heartbeats at once, in the transaction of `connection`: their statements in one
    /// round trip, and what the heartbeats that need nothing more write (sites, then hosts)
    /// with the `COMMIT`. Each heartbeat's outcome, in order; nil for those that need more
    /// or were refused, which are then ingested alone, after this transaction (the liveness
    /// of those that need more, written here, is written again, to the same values).
    ///
    /// On PostgreSQL the liveness of all of them is one statement, their stored VMs one
    /// more and their hosts' facts one more (``readAheadTogether(_:on:)``,
    /// ``factsTogether(_:)``): per heartbeat, a statement costs the database more than the
    /// rows it writes (README, Performance). On SQLite, in this process, each heartbeat
    /// has its own statements.
    ///
    /// Agents are locked in the order of their ids (as the offline sweep locks them), and
    /// sites in the order of theirs, so that a batch deadlocks neither with another nor with
    /// the sweep. On PostgreSQL a batch waits at most ``batchLockTimeout`` for a row lock
    /// (an agent's own transaction, a plan applied to a site, the sweep): it is the one
    /// batch running, and the heartbeats waiting for it should not wait for another
    /// transaction's locks too. Past that it fails, and its heartbeats are ingested alone.
    private static func ingestBatch(
        _ members: [HeartbeatBatchMember], siteClock: SiteHeartbeatClock, on connection: any SQLConnection, dialect: SQLDialect
    ) throws(StoreError) -> [IngestedHeartbeat?] {
        let order = members.indices.sorted { members[$0].heartbeat.agentID < members[$1].heartbeat.agentID }
        let ordered = order.map { members[$0] }
        let together = dialect == .postgres
        let rows = together ? try readAheadTogether(ordered, on: connection) : try readAheadEach(ordered, on: connection, dialect: dialect)
        var outcomes = [IngestedHeartbeat?](repeating: nil, count: members.count)
        var siteAdvances: [(siteID: String, statement: SQLStatement)] = []
        var finished: [(member: HeartbeatBatchMember, agent: AgentRecord)] = []
        for (position, index) in order.enumerated() {
            let member = members[index]
            let ahead = try readAhead(member.heartbeat, placement: member.placement, rows: rows[position], now: member.now,
                                      siteClock: siteClock)
            guard let ingested = ahead.ingested, let agent = ahead.agent else { continue }
            outcomes[index] = ingested
            if let siteAdvance = ahead.siteAdvance { siteAdvances.append((member.placement.siteID, siteAdvance)) }
            finished.append((member, agent))
        }
        let facts = together ? factsTogether(finished).map { [$0] } ?? []
            : finished.flatMap { factsStatements($0.member.heartbeat, agent: $0.agent, now: $0.member.now) }
        try connection.executeAtCommit(siteAdvances.sorted { $0.siteID < $1.siteID }.map(\.statement) + facts)
        return outcomes
    }

    /// The read-ahead of each member with statements of its own
    /// (``readingAheadStatements(_:placement:lease:now:dialect:)``), all in one round trip.
    private static func readAheadEach(
        _ members: [HeartbeatBatchMember], on connection: any SQLConnection, dialect: SQLDialect
    ) throws(StoreError) -> [ReadAheadRows] {
        var statements = lockTimeout(dialect)
        var ranges: [Range<Int>] = []
        for member in members {
            let read = readingAheadStatements(member.heartbeat, placement: member.placement, lease: member.lease, now: member.now,
                                              dialect: dialect)
            ranges.append(statements.count..<statements.count + read.count)
            statements += read
        }
        let results = try connection.queries(statements)
        return ranges.map { ReadAheadRows(results: results[$0]) }
    }

    /// The read-ahead of the members (in the order of their agents' ids) on PostgreSQL, in
    /// one round trip: the liveness of all of them (``livenessTogether(_:)``), the stored
    /// VMs they report in one `SELECT` (of those whose ids are distinct, as
    /// ``storedVMsPrefetch(of:)``), and each member's plans to lease.
    private static func readAheadTogether(_ members: [HeartbeatBatchMember], on connection: any SQLConnection) throws(StoreError) -> [ReadAheadRows] {
        var statements = lockTimeout(.postgres) + [livenessTogether(members)]
        let livenessIndex = statements.count - 1
        let reportedIDs = members.map { prefetchableIDs(of: $0.heartbeat.microVMs) }
        let vmIDs = reportedIDs.flatMap { $0 ?? [] }
        let vmsIndex = vmIDs.isEmpty ? nil : statements.count
        if vmsIndex != nil {
            statements.append(
                SQLStatement(raw: "SELECT \(storedVMColumns) FROM microvms WHERE id = ANY(CAST($1 AS TEXT[]))",
                             [.postgresArray(vmIDs.map(SQLValue.text))])
            )
        }
        let leasesIndex = statements.count
        statements += members.map {
            leaseCandidates(of: $0.placement, lease: $0.lease, held: [], now: $0.now, dialect: .postgres, locking: false)
        }
        let results = try connection.queries(statements)
        var agents: [Int64: SQLRow] = [:]
        for row in results[livenessIndex] { agents[try row.int64("batch_position")] = row }
        let vms = try vmsIndex.map { index throws(StoreError) in try byID(results[index]) } ?? [:]
        return members.indices.map { position in
            ReadAheadRows(agent: agents[Int64(position + 1)], storedVMs: reportedIDs[position].map { $0.compactMap { vms[$0] } },
                          leaseCandidates: results[leasesIndex + position])
        }
    }

    /// ``liveness(_:now:ifOnline:)`` (ONLINE agents only) of all the members in one
    /// `UPDATE … FROM unnest(…)`, whose rows have their member's position (from 1) in
    /// `batch_position`. It first locks, in a subquery, the agents whose heartbeat passes
    /// its conditions, in the order of their ids (as the offline sweep does): one statement
    /// sees one snapshot, so no agent can pass the update's conditions that did not pass the
    /// lock's, and be locked out of order.
    ///
    /// A heartbeat the update refuses (stale, another certificate, an agent not ONLINE)
    /// takes no lock and waits for none, as with a statement of its own: a superseded
    /// certificate cannot make a batch wait for its agent's row. An agent named by two
    /// members is updated once, for one of them; the other finds no row, as for an agent
    /// that was not ONLINE, and is ingested alone.
    private static func livenessTogether(_ members: [HeartbeatBatchMember]) -> SQLStatement {
        SQLStatement(raw: livenessUpdate, livenessColumns.map { column in .postgresArray(members.map(column.value)) })
    }

    /// The columns of ``livenessTogether(_:)``'s `unnest`, each with its member's value.
    private static let livenessColumns: [(name: String, type: String, value: @Sendable (HeartbeatBatchMember) -> SQLValue)] = [
        ("live_agent", "TEXT", { .text($0.heartbeat.agentID) }),
        ("live_now", "BIGINT", { .timestamp($0.now) }),
        ("live_seq", "BIGINT", { .int($0.heartbeat.heartbeatSeq) }),
        ("live_agent_version", "TEXT", { .nonBlank($0.heartbeat.agentVersion) }),
        ("live_os", "TEXT", { .nonBlank($0.heartbeat.os) }),
        ("live_arch", "TEXT", { .nonBlank($0.heartbeat.arch) }),
        ("live_kernel_version", "TEXT", { .nonBlank($0.heartbeat.kernelVersion) }),
        ("live_serial", "TEXT", { $0.heartbeat.certificateSerial.map(SQLValue.text) ?? .null }),
    ]

    /// ``livenessColumns`` as the liveness clauses name them.
    private static let livenessValues = LivenessValues(
        now: "live.live_now", seq: "live.live_seq", agentVersion: "live.live_agent_version", os: "live.live_os", arch: "live.live_arch",
        kernelVersion: "live.live_kernel_version", serial: "live.live_serial")

    /// The members' heartbeats, and the condition of those the liveness update takes.
    private static let livenessSource = (
        heartbeats: unnest(livenessColumns.map { ($0.name, $0.type) }, named: "live", numbered: "batch_position"),
        passing: "agents.id = live.live_agent AND state = 'ONLINE' AND \(livenessConditions(livenessValues))"
    )

    /// The statement of ``livenessTogether(_:)``; the subquery's `agents` and `live` are its
    /// own, with the same parameters.
    private static let livenessUpdate = """
        UPDATE agents SET \(livenessAssignments(livenessValues))
        FROM \(livenessSource.heartbeats)
        WHERE \(livenessSource.passing)
          AND agents.id IN (SELECT agents.id FROM agents JOIN \(livenessSource.heartbeats) ON \(livenessSource.passing)
                            ORDER BY agents.id FOR NO KEY UPDATE OF agents)
        RETURNING live.batch_position, \(StoreColumns.agent)
        """

    /// The facts of the finished heartbeats' hosts (``factsStatements(_:agent:now:)``, which
    /// has no image catalog for heartbeats read ahead) in one `UPDATE … FROM unnest(…)`;
    /// nil for none.
    private static func factsTogether(_ finished: [(member: HeartbeatBatchMember, agent: AgentRecord)]) -> SQLStatement? {
        guard !finished.isEmpty else { return nil }
        let rows = finished.map { hostFacts($0.member.heartbeat, hostID: $0.agent.hostID, now: $0.member.now) }
        return SQLStatement(raw: factsUpdateTogether, HostFact.allCases.indices.map { column in .postgresArray(rows.map { $0[column] }) })
    }

    /// The statement of ``factsTogether(_:)``.
    private static let factsUpdateTogether = """
        UPDATE hosts SET \(factsAssignments { "fact.fact_\($0.rawValue)" })
        FROM \(unnest(HostFact.allCases.map { ("fact_\($0.rawValue)", $0.sqlType) }, named: "fact"))
        WHERE hosts.id = fact.fact_\(HostFact.hostID.rawValue)
        """

    /// `unnest` of one array parameter per column (`$1`, `$2`, … in order), as `alias`,
    /// with the row's position (from 1) as `position` when given.
    private static func unnest(_ columns: [(name: String, type: String)], named alias: String, numbered position: String? = nil) -> String {
        let arrays = columns.indices.map { "CAST($\($0 + 1) AS \(columns[$0].type)[])" }.joined(separator: ", ")
        let names = columns.map(\.name) + (position.map { [$0] } ?? [])
        return "unnest(\(arrays))\(position == nil ? "" : " WITH ORDINALITY") AS \(alias) (\(names.joined(separator: ", ")))"
    }

    /// Whether a heartbeat transaction that failed with `error` may succeed when run again:
    /// it waited too long for a lock (PostgreSQL reports `.database`), lost its connection,
    /// or met a row another transaction inserted meanwhile. Any other error (an unknown or
    /// retired agent, a superseded certificate) would come back the same.
    static func mayPassOnRetry(_ error: StoreError) -> Bool {
        [.database, .unavailable, .conflict].contains(error.code)
    }

    /// How long a batch of heartbeats waits for each row lock on PostgreSQL
    /// (``ingestBatch(_:siteClock:on:dialect:)``).
    static let batchLockTimeout = "200ms"

    /// The statement that limits each row lock wait of the transaction to
    /// ``batchLockTimeout`` (PostgreSQL; none on SQLite, which has no row locks).
    static func lockTimeout(_ dialect: SQLDialect) -> [SQLStatement] {
        dialect == .postgres ? [SQLStatement(raw: "SELECT set_config('lock_timeout', $1, true)", [.text(batchLockTimeout)])] : []
    }

    /// A heartbeat waiting in ``heartbeatBatches``, with where its agent was last time.
    struct HeartbeatBatchMember: Sendable {
        let heartbeat: HeartbeatIngest
        let placement: AgentPlacement
        let lease: LeaseOptions
        let now: Date
    }
}
