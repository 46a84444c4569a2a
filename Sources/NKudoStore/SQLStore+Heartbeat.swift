public import NKudoSQL
public import Foundation
import Logging
import NKudoContract

// Heartbeat ingestion: agent liveness, host facts, NetBird status, VM reports, execution
// updates and plan leases, in one transaction (shared by several heartbeats in a batch).
extension SQLStore {
    /// Ingests the heartbeat and leases plans in one transaction, under the agent's row lock
    /// (see ``Store/ingestHeartbeat(_:lease:now:)`` for heartbeats written in batches).
    ///
    /// A stale heartbeat (`heartbeat_seq` > 0 and below the stored one) changes nothing of
    /// the agent, its host or its VMs; its lease claims and execution updates still count
    /// and plans are still leased. Execution updates follow the rules of result reports
    /// (``reportResults(_:now:)``): only the plan's lease holder, with its fencing token,
    /// records progress; other claims come back as rejections. An IN_PROGRESS update and
    /// every held lease the agent lists extend the plan's lease. VM reports change only the
    /// VMs placed on the agent's host (and add VMs the control plane does not know). The
    /// site's connectivity is rolled up as in ``enroll(_:now:)``.
    ///
    /// A heartbeat that may be read ahead (``mayReadAhead(_:)``), of an agent whose
    /// placement this process recorded at its last heartbeat, goes through
    /// ``heartbeatBatches``: alone when nothing is running there (its own transaction, as any
    /// other heartbeat), else with the heartbeats that arrived meanwhile, in one transaction
    /// that finishes those that need nothing more (``runHeartbeatBatch(_:database:siteClock:logger:)``).
    /// Those it does not finish (but a heartbeat alone there that was refused: its error
    /// is the answer), those it could not take (too many waiting, or the request cancelled)
    /// and the other heartbeats take a transaction of their own.
    public func ingestHeartbeat(_ heartbeat: HeartbeatIngest, lease: LeaseOptions, now: Date) async throws(StoreError) -> HeartbeatOutcome {
        let placement = Self.mayReadAhead(heartbeat) ? agentPlacements.placement(of: heartbeat.agentID) : nil
        let ingested: IngestedHeartbeat
        do throws(StoreError) {
            if let placement,
               let batched = await heartbeatBatches.submit(HeartbeatBatchMember(heartbeat: heartbeat, placement: placement, lease: lease, now: now)) {
                ingested = try batched.get()
            } else {
                ingested = try await Self.ingestAlone(heartbeat, placement: placement, lease: lease, now: now, database: database,
                                                      siteClock: siteHeartbeatClock)
            }
        } catch {
            agentPlacements.forget(heartbeat.agentID)
            throw error
        }
        agentPlacements.record(ingested.placement)
        var metadata: Logger.Metadata = [StoreLogKey.agentID: "\(heartbeat.agentID)"]
        if ingested.stale {
            metadata[StoreLogKey.heartbeatSeq] = "\(heartbeat.heartbeatSeq)"
            metadata[StoreLogKey.storedHeartbeatSeq] = "\(ingested.storedSeq)"
            logger.notice("stale heartbeat: facts and VM reports ignored", metadata: metadata)
        }
        if !ingested.foreignVMs.isEmpty {
            logger.warning(
                "heartbeat reported VMs that are not on the agent's host; skipped",
                metadata: metadata.merging([StoreLogKey.vmID: "\(ingested.foreignVMs)"]) { $1 }
            )
        }
        if !ingested.rejections.isEmpty {
            logger.notice(
                "heartbeat claimed leases the agent does not hold; refused",
                metadata: metadata.merging([StoreLogKey.planIDs: "\(ingested.rejections.map(\.planId))"]) { $1 }
            )
        }
        if ingested.vmTransitions > 0 {
            logger.debug("heartbeat moved VMs", metadata: metadata.merging([StoreLogKey.count: "\(ingested.vmTransitions)"]) { $1 })
        }
        logLeases(ingested.leased, agentID: heartbeat.agentID)
        return HeartbeatOutcome(leased: ingested.leased, rejections: ingested.rejections, heartbeatSeq: ingested.storedSeq)
    }

    /// The heartbeat in a transaction of its own, read ahead when `placement` is where the
    /// agent was at its last heartbeat; with `waitingForLocks` at most ``batchLockTimeout``
    /// for each row lock (on PostgreSQL, when read ahead).
    static func ingestAlone(
        _ heartbeat: HeartbeatIngest, placement: AgentPlacement?, lease: LeaseOptions, now: Date, database: any SQLDatabase,
        siteClock: SiteHeartbeatClock, waitingForLocks limited: Bool = false
    ) async throws(StoreError) -> IngestedHeartbeat {
        let dialect = database.dialect
        let prelude = limited ? lockTimeout(dialect) : []
        return try await database.withTransaction { connection throws(StoreError) -> IngestedHeartbeat in
            // Locks order: agent, site, host, plans, executions, VMs, as in every other
            // operation that takes several of them.
            let online: AgentRecord?
            var storedVMs: [SQLRow]?
            if let placement {
                let ahead = try Self.ingestReadingAhead(heartbeat, placement: placement, lease: lease, now: now, siteClock: siteClock,
                                                        after: prelude, on: connection, dialect: dialect)
                if let ingested = ahead.ingested { return ingested }
                online = ahead.agent
                storedVMs = ahead.storedVMs
            } else {
                online = try Self.recordLiveness(heartbeat, now: now, ifOnline: true, on: connection)
            }
            let agent: AgentRecord
            var ingested: IngestedHeartbeat
            if let online {
                agent = online
                ingested = IngestedHeartbeat(storedSeq: online.heartbeatSeq, placement: online.placement)
                if siteClock.shouldAdvance(agent.siteID, to: now) {
                    try connection.execute(Self.siteHeartbeatAdvance(agent.siteID, now: now))
                }
            } else {
                agent = try Self.requireAgent(heartbeat, now: now, on: connection, lockClause: dialect.lockClause(.update))
                ingested = IngestedHeartbeat(storedSeq: agent.heartbeatSeq, placement: agent.placement)
                ingested.stale = heartbeat.heartbeatSeq > 0 && heartbeat.heartbeatSeq < agent.heartbeatSeq
                if !ingested.stale {
                    ingested.storedSeq = max(agent.heartbeatSeq, heartbeat.heartbeatSeq)
                    try Self.recordLiveness(heartbeat, now: now, ifOnline: false, on: connection)
                    if agent.state == .online {
                        try connection.execute(Self.siteHeartbeatAdvance(agent.siteID, now: now))
                    } else {
                        try Self.rollUpSite(ofReturningAgent: agent, now: now, on: connection, dialect: dialect)
                    }
                }
            }
            // The host's facts, the reported VMs as stored and the plans to lease need
            // nothing of one another: one round trip on PostgreSQL (README, Performance).
            // Facts and VM reports change nothing the lease query reads but the host's
            // images, which are written before it. Held leases and execution updates (which
            // lock plans, after the host) come between the facts and the lease query.
            var batch = ingested.stale ? [] : Self.factsStatements(heartbeat, agent: agent, now: now)
            if !heartbeat.heldLeases.isEmpty || !heartbeat.executionUpdates.isEmpty {
                _ = try connection.queries(batch)
                batch = []
                ingested.rejections = try Self.extendHeldLeases(heartbeat.heldLeases, agent: agent, lease: lease, now: now, on: connection)
                let updates = try Self.recordExecutionUpdates(heartbeat.executionUpdates, agent: agent, lease: lease, now: now,
                                                              on: connection, dialect: dialect)
                ingested.vmTransitions += updates.transitions
                for rejection in updates.rejections where !ingested.rejections.contains(where: { $0.planId == rejection.planId }) {
                    ingested.rejections.append(rejection)
                }
            }
            let storedVMsIndex = batch.count
            let storedVMsQuery = ingested.stale || storedVMs != nil ? nil : Self.storedVMsPrefetch(of: heartbeat.microVMs)
            if let storedVMsQuery { batch.append(storedVMsQuery) }
            batch.append(Self.leaseCandidates(of: agent.placement, lease: lease, held: Set(heartbeat.heldLeases.map(\.planID)), now: now,
                                              dialect: dialect))
            let results = try connection.queries(batch)
            if !ingested.stale {
                if storedVMsQuery != nil { storedVMs = results[storedVMsIndex] }
                let reports = try Self.recordVMReports(heartbeat.microVMs, stored: storedVMs, agent: agent, now: now, on: connection,
                                                       dialect: dialect)
                ingested.vmTransitions += reports.transitions
                ingested.foreignVMs = reports.foreign
            }
            ingested.leased = try Self.grantLeases(results[results.count - 1], to: agent, lease: lease, now: now, on: connection)
            return ingested
        }
    }

    /// What a heartbeat transaction did.
    struct IngestedHeartbeat: Sendable {
        /// The highest sequence number stored for the agent after the heartbeat.
        var storedSeq: Int64
        /// Where the agent is.
        let placement: AgentPlacement
        var stale = false
        var foreignVMs: [String] = []
        var vmTransitions = 0
        var rejections: [LeaseRejection] = []
        var leased: [LeasedPlanRecord] = []
    }

    /// How far a site's `last_heartbeat_at` may lag its agents' latest heartbeat.
    static let siteHeartbeatResolution: TimeInterval = 1

    /// The heartbeat of an agent that was ONLINE already cannot change its site's
    /// connectivity (every change of an agent's state rolls its site up under the site's
    /// lock), only the site's `last_heartbeat_at`; that is advanced when it is at least
    /// ``siteHeartbeatResolution`` behind. Before, every heartbeat locked the site row,
    /// counted the site's agents and wrote the row, so all heartbeats of a site queued on
    /// that one row until commit (README, Performance).
    private static func siteHeartbeatAdvance(_ siteID: String, now: Date) -> SQLStatement {
        let stamp = now.unixMicroseconds
        return SQLStatement(
            raw: """
                UPDATE sites SET last_heartbeat_at = $1, updated_at = $2
                WHERE id = $3 AND (last_heartbeat_at IS NULL OR last_heartbeat_at <= $4)
                """,
            [.int(stamp), .timestamp(now), .text(siteID), .int(stamp - Int64(siteHeartbeatResolution * 1_000_000))]
        )
    }

    /// The site of an agent that just came (back) ONLINE: ONLINE when no other agent of the
    /// site is OFFLINE or DEGRADED, else PARTIAL; `last_heartbeat_at` is now unless the
    /// stored one is later. Under the site's row lock, like every roll-up, but with one
    /// indexed look-up (`agents_site_state`) instead of an aggregate over the site's agents:
    /// after an outage every agent of a site comes back at once, and with the aggregate
    /// (10,000 agents in one site) they queued on the site row until they timed out
    /// (README, Performance).
    static func rollUpSite(ofReturningAgent agent: AgentRecord, now: Date, on connection: any SQLConnection, dialect: SQLDialect) throws(StoreError) {
        let sites = try connection.query(
            SQLStatement(
                raw: "SELECT connectivity_state, last_heartbeat_at FROM sites WHERE id = $1 \(dialect.lockClause(.update))",
                [.text(agent.siteID)]
            )
        )
        guard let site = sites.first else { return }
        let othersDown = try connection.query(
            SQLStatement(
                raw: """
                    SELECT id FROM agents
                    WHERE tenant_id = $1 AND site_id = $2 AND state IN ('OFFLINE', 'DEGRADED') AND id <> $3 AND retired_at IS NULL
                    LIMIT 1
                    """,
                [.text(agent.tenantID), .text(agent.siteID), .text(agent.id)]
            )
        )
        let state: Site.ConnectivityState = othersDown.isEmpty ? .online : .partial
        let storedState = try site.text("connectivity_state")
        let storedLastHeartbeat = try site.optionalInt64("last_heartbeat_at")
        let lastHeartbeat = max(storedLastHeartbeat ?? .min, now.unixMicroseconds)
        guard state.storedName != storedState || lastHeartbeat != storedLastHeartbeat else { return }
        try connection.execute(
            SQLStatement(
                raw: "UPDATE sites SET connectivity_state = $1, last_heartbeat_at = $2, updated_at = $3 WHERE id = $4",
                [.stored(state), .int(lastHeartbeat), .timestamp(now), .text(agent.siteID)]
            )
        )
    }

    /// Agent ONLINE, heartbeat time, sequence (never lowered) and reported software (nil
    /// keeps the stored), with one statement that also takes the agent's row lock; returns
    /// the agent as updated. Only for a heartbeat that is not stale, of an agent that is not
    /// retired, and, when it carries one, with the agent's current certificate serial (the
    /// credentials a renewal replaced then stop working) or the replaced one within its
    /// grace: nil (nothing written) otherwise, when the agent is unknown, and, `ifOnline`,
    /// when it is not ONLINE. `ifOnline` is the common case, tried before the agent is read
    /// at all.
    @discardableResult
    private static func recordLiveness(
        _ heartbeat: HeartbeatIngest, now: Date, ifOnline: Bool, on connection: any SQLConnection
    ) throws(StoreError) -> AgentRecord? {
        try connection.query(liveness(heartbeat, now: now, ifOnline: ifOnline)).first.map(AgentRecord.init(row:))
    }

    /// The statement of ``recordLiveness(_:now:ifOnline:on:)``.
    private static func liveness(_ heartbeat: HeartbeatIngest, now: Date, ifOnline: Bool) -> SQLStatement {
        SQLStatement(
            raw: ifOnline ? livenessIfOnline : livenessOfAny,
            [
                .timestamp(now), .int(heartbeat.heartbeatSeq), .nonBlank(heartbeat.agentVersion), .nonBlank(heartbeat.os),
                .nonBlank(heartbeat.arch), .nonBlank(heartbeat.kernelVersion), heartbeat.certificateSerial.map(SQLValue.text) ?? .null,
                .text(heartbeat.agentID),
            ]
        )
    }

    /// ``liveness(_:now:ifOnline:)``'s texts: of an ONLINE agent only, and of any.
    private static let (livenessIfOnline, livenessOfAny) = {
        let values = LivenessValues(now: "$1", seq: "CAST($2 AS BIGINT)", agentVersion: "CAST($3 AS TEXT)", os: "CAST($4 AS TEXT)",
                                    arch: "CAST($5 AS TEXT)", kernelVersion: "CAST($6 AS TEXT)", serial: "CAST($7 AS TEXT)")
        let statement = { (state: String) in
            """
            UPDATE agents SET \(livenessAssignments(values))
            WHERE id = $8 \(state) AND \(livenessConditions(values))
            RETURNING \(StoreColumns.agent)
            """
        }
        return (statement("AND state = 'ONLINE'"), statement(""))
    }()

    /// SQL expressions of a heartbeat's values in its liveness update: parameters for one
    /// heartbeat (``liveness(_:now:ifOnline:)``), the columns of an `unnest` for a batch.
    struct LivenessValues {
        let now: String
        let seq: String
        let agentVersion: String
        let os: String
        let arch: String
        let kernelVersion: String
        let serial: String
    }

    /// What a heartbeat sets on its agent: ONLINE, the heartbeat's time, the sequence
    /// (never lowered), the reported software (NULL keeps the stored), and, with the current
    /// certificate, the end of the replaced credentials' grace.
    static func livenessAssignments(_ values: LivenessValues) -> String {
        """
        state = 'ONLINE', last_heartbeat_at = \(values.now),
                          heartbeat_seq = CASE WHEN heartbeat_seq > \(values.seq) THEN heartbeat_seq ELSE \(values.seq) END,
                          agent_version = COALESCE(\(values.agentVersion), agent_version),
                          os = COALESCE(\(values.os), os),
                          arch = COALESCE(\(values.arch), arch),
                          kernel_version = COALESCE(\(values.kernelVersion), kernel_version),
                          previous_cert_serial = CASE WHEN cert_serial = \(values.serial) THEN NULL ELSE previous_cert_serial END,
                          previous_refresh_token_hash = CASE WHEN cert_serial = \(values.serial) THEN NULL
                                                             ELSE previous_refresh_token_hash END,
                          previous_credentials_expire_at = CASE WHEN cert_serial = \(values.serial) THEN NULL
                                                                ELSE previous_credentials_expire_at END,
                          updated_at = \(values.now)
        """
    }

    /// When a heartbeat may update its agent: not retired, not stale, and, when it carries
    /// a certificate serial, with the agent's current one or the replaced one within its grace.
    static func livenessConditions(_ values: LivenessValues) -> String {
        """
        retired_at IS NULL
                  AND (\(values.seq) = 0 OR heartbeat_seq <= \(values.seq))
                  AND (\(values.serial) IS NULL OR cert_serial = \(values.serial)
                       OR (previous_cert_serial = \(values.serial) AND previous_credentials_expire_at > \(values.now)))
        """
    }

    /// Whether a heartbeat may be ingested reading ahead (``ingestReadingAhead(_:placement:lease:now:siteClock:after:on:dialect:)``):
    /// it claims no leases, updates no execution and reports no image catalog, each of
    /// which has to be written before the plans to lease are read.
    private static func mayReadAhead(_ heartbeat: HeartbeatIngest) -> Bool {
        heartbeat.heldLeases.isEmpty && heartbeat.executionUpdates.isEmpty && heartbeat.imageCatalog == nil
    }

    /// ``recordLiveness(_:now:ifOnline:on:)`` of an agent assumed ONLINE at `placement`,
    /// in one round trip with what the rest of the heartbeat reads: the reported VMs as
    /// stored (nil when their ids are not distinct) and, without locking them, the plans
    /// the agent could lease there. When the agent was ONLINE there, has nothing to lease
    /// and no VM to change, the rest (the site's clock, the host's facts) is kept for
    /// `COMMIT` and the heartbeat is done (`ingested`); otherwise the general path goes on
    /// with the agent as updated (nil: it was not ONLINE) and the VMs as read.
    /// `prelude` goes first in the same round trip (its results are dropped).
    private static func ingestReadingAhead(
        _ heartbeat: HeartbeatIngest, placement: AgentPlacement, lease: LeaseOptions, now: Date, siteClock: SiteHeartbeatClock,
        after prelude: [SQLStatement] = [], on connection: any SQLConnection, dialect: SQLDialect
    ) throws(StoreError) -> ReadAhead {
        let statements = prelude + readingAheadStatements(heartbeat, placement: placement, lease: lease, now: now, dialect: dialect)
        let results = try connection.queries(statements)
        let ahead = try readAhead(heartbeat, placement: placement, rows: ReadAheadRows(results: results[prelude.count...]), now: now,
                                  siteClock: siteClock)
        if ahead.ingested != nil, let agent = ahead.agent {
            // In the order of the locks: the site, then the host.
            try connection.executeAtCommit((ahead.siteAdvance.map { [$0] } ?? []) + factsStatements(heartbeat, agent: agent, now: now))
        }
        return ahead
    }

    /// What reading ahead found (``ingestReadingAhead(_:placement:lease:now:siteClock:after:on:dialect:)``).
    struct ReadAhead {
        /// The heartbeat as ingested, when it needs nothing more than `siteAdvance` and its
        /// host's facts (``factsStatements(_:agent:now:)``), sent with `COMMIT`.
        var ingested: IngestedHeartbeat?
        /// The agent as updated; nil when it was not ONLINE (nothing written).
        var agent: AgentRecord?
        /// The reported VMs as stored; nil when their ids are not distinct.
        var storedVMs: [SQLRow]?
        /// The update of the site's clock to send at `COMMIT`, when `ingested` and due.
        var siteAdvance: SQLStatement?
    }

    /// What reading ahead read of one heartbeat.
    struct ReadAheadRows {
        /// The agent as its liveness update returned it; nil when nothing was written.
        var agent: SQLRow?
        /// The reported VMs as stored; nil when they were not read (their ids are not distinct).
        var storedVMs: [SQLRow]?
        /// The plans the agent could lease, unlocked.
        var leaseCandidates: [SQLRow]
    }

    /// The statements of reading ahead, which need nothing of one another: the agent's
    /// liveness, the reported VMs as stored (when their ids are distinct) and the plans to lease.
    static func readingAheadStatements(
        _ heartbeat: HeartbeatIngest, placement: AgentPlacement, lease: LeaseOptions, now: Date, dialect: SQLDialect
    ) -> [SQLStatement] {
        var statements = [liveness(heartbeat, now: now, ifOnline: true)]
        if let storedVMsQuery = storedVMsPrefetch(of: heartbeat.microVMs) { statements.append(storedVMsQuery) }
        statements.append(leaseCandidates(of: placement, lease: lease, held: [], now: now, dialect: dialect, locking: false))
        return statements
    }

    /// What the rows read ahead say of the heartbeat.
    static func readAhead(
        _ heartbeat: HeartbeatIngest, placement: AgentPlacement, rows: ReadAheadRows, now: Date, siteClock: SiteHeartbeatClock
    ) throws(StoreError) -> ReadAhead {
        var ahead = ReadAhead()
        ahead.agent = try rows.agent.map(AgentRecord.init(row:))
        ahead.storedVMs = rows.storedVMs
        guard let agent = ahead.agent, agent.placement == placement, rows.leaseCandidates.isEmpty,
              let foreign = try foreignIfUnchanged(heartbeat.microVMs, stored: ahead.storedVMs, agent: agent) else {
            return ahead
        }
        if siteClock.shouldAdvance(agent.siteID, to: now) { ahead.siteAdvance = siteHeartbeatAdvance(agent.siteID, now: now) }
        var ingested = IngestedHeartbeat(storedSeq: agent.heartbeatSeq, placement: placement)
        ingested.foreignVMs = foreign
        ahead.ingested = ingested
        return ahead
    }

    /// The heartbeat's agent, its row locked; `.unauthorized` when the agent is retired or
    /// the heartbeat carries a certificate serial to check and the agent is unknown or has
    /// another one, else `.notFound` for an unknown agent.
    ///
    /// A serial to check is checked on an unlocked read first, so that a superseded
    /// certificate (valid until it expires) cannot take the agent's row lock again and again.
    private static func requireAgent(
        _ heartbeat: HeartbeatIngest, now: Date, on connection: any SQLConnection, lockClause: String
    ) throws(StoreError) -> AgentRecord {
        guard let serial = heartbeat.certificateSerial else {
            let agent = try requireAgent(heartbeat.agentID, on: connection, lockClause: lockClause)
            guard agent.retiredAt == nil else { throw StoreError(.unauthorized, "agent retired") }
            return agent
        }
        try checkSerial(serial, of: loadAgent(heartbeat.agentID, on: connection), now: now)
        let agent = try loadAgent(heartbeat.agentID, on: connection, lockClause: lockClause)
        try checkSerial(serial, of: agent, now: now)
        guard let agent else { throw StoreError(.unauthorized, "unknown agent") }
        return agent
    }

    /// `.unauthorized` unless the agent exists, is not retired and this certificate serial
    /// authenticates it.
    private static func checkSerial(_ serial: String, of agent: AgentRecord?, now: Date) throws(StoreError) {
        guard let agent else { throw StoreError(.unauthorized, "unknown agent") }
        switch agent.credential(serial: serial, at: now) {
        case .current, .previous: return
        case .superseded: throw StoreError(.unauthorized, "certificate serial mismatch")
        case .retired: throw StoreError(.unauthorized, "agent retired")
        }
    }

    /// Host facts, NetBird status and hypervisors (one statement), and the image catalog
    /// when reported. The reported OS host name is a fact (`os_hostname`, nil keeps the
    /// stored one); the host's name stays the enrolled one.
    static func factsStatements(_ heartbeat: HeartbeatIngest, agent: AgentRecord, now: Date) -> [SQLStatement] {
        var statements = [SQLStatement(raw: factsUpdate, hostFacts(heartbeat, hostID: agent.hostID, now: now))]
        if let catalog = heartbeat.imageCatalog {
            statements += imageCatalogStatements(catalog, agent: agent, now: now)
        }
        return statements
    }

    /// The statement of a heartbeat's facts: ``HostFact``'s values as `$1 … $n`.
    private static let factsUpdate: String = {
        let facts = HostFact.allCases
        let assignments = factsAssignments { fact in "CAST($\(facts.firstIndex(of: fact).map { $0 + 1 } ?? 0) AS \(fact.sqlType))" }
        return "UPDATE hosts SET \(assignments) WHERE id = $\(facts.count)"
    }()

    /// A heartbeat's values for its host's row, in the order of ``HostFact``; the host's id last.
    enum HostFact: String, CaseIterable {
        case osHostname = "os_hostname", cpuCoresTotal = "cpu_cores_total", memoryBytesTotal = "memory_bytes_total"
        case storageBytesTotal = "storage_bytes_total", kvmAvailable = "kvm_available"
        case cloudHypervisorAvailable = "cloud_hypervisor_available", now
        /// 1 when the heartbeat has a NetBird status, whose values follow; 0 keeps the stored ones.
        case netbird
        case netbirdConnected = "netbird_connected", netbirdState = "netbird_state", netbirdReason = "netbird_reason"
        case netbirdPeerID = "netbird_peer_id", netbirdIPv4 = "netbird_ipv4", netbirdManagementURL = "netbird_management_url"
        case netbirdNetworkID = "netbird_network_id", netbirdFQDN = "netbird_fqdn"
        case netbirdManagementConnected = "netbird_management_connected", netbirdSignalConnected = "netbird_signal_connected"
        case netbirdPeersConnected = "netbird_peers_connected", netbirdPeersTotal = "netbird_peers_total"
        /// NULL keeps the stored ones.
        case hypervisors, hypervisor
        case hostID = "host_id"

        /// The SQL type of the value.
        var sqlType: String {
            switch self {
            case .osHostname, .netbirdState, .netbirdReason, .netbirdPeerID, .netbirdIPv4, .netbirdManagementURL, .netbirdNetworkID,
                 .netbirdFQDN, .hypervisors, .hypervisor, .hostID:
                "TEXT"
            case .cpuCoresTotal, .memoryBytesTotal, .storageBytesTotal, .kvmAvailable, .cloudHypervisorAvailable, .now, .netbird,
                 .netbirdConnected, .netbirdManagementConnected, .netbirdSignalConnected, .netbirdPeersConnected, .netbirdPeersTotal:
                "BIGINT"
            }
        }
    }

    /// The heartbeat's ``HostFact`` values, in their order.
    static func hostFacts(_ heartbeat: HeartbeatIngest, hostID: String, now: Date) -> [SQLValue] {
        let netbird = heartbeat.netbird
        return [
            .nonBlank(heartbeat.osHostname), .int(Int64(heartbeat.cpuCoresTotal)), .int(heartbeat.memoryBytesTotal),
            .int(heartbeat.storageBytesTotal), .flag(heartbeat.kvmAvailable), .flag(heartbeat.cloudHypervisorAvailable),
            .timestamp(now), .flag(netbird != nil),
            netbird.map { .flag($0.connected) } ?? .null, netbird.map { .text($0.state.storedName ?? "UNSPECIFIED") } ?? .null,
            netbird.map { .text($0.reason) } ?? .null, .nonBlank(netbird?.peerId), .nonBlank(netbird?.ipv4),
            .nonBlank(netbird?.managementUrl), .nonBlank(netbird?.networkId), .nonBlank(netbird?.fqdn),
            netbird.map { .flag($0.managementConnected) } ?? .null, netbird.map { .flag($0.signalConnected) } ?? .null,
            netbird.map { .int(Int64($0.peersConnected)) } ?? .null, netbird.map { .int(Int64($0.peersTotal)) } ?? .null,
            heartbeat.hypervisors.map { .text($0.joined(separator: ",")) } ?? .null, heartbeat.hypervisor.map(SQLValue.text) ?? .null,
            .text(hostID),
        ]
    }

    /// What a heartbeat sets on its host, over SQL expressions of its ``HostFact`` values:
    /// the facts; NetBird's status only when the heartbeat has one; the hypervisors only
    /// when reported.
    static func factsAssignments(_ value: (HostFact) -> String) -> String {
        let netbird: [HostFact] = [
            .netbirdConnected, .netbirdState, .netbirdReason, .netbirdPeerID, .netbirdIPv4, .netbirdManagementURL, .netbirdNetworkID,
            .netbirdFQDN, .netbirdManagementConnected, .netbirdSignalConnected, .netbirdPeersConnected, .netbirdPeersTotal,
        ]
        let assignments = [
            "os_hostname = COALESCE(\(value(.osHostname)), os_hostname)",
            "cpu_cores_total = \(value(.cpuCoresTotal))", "memory_bytes_total = \(value(.memoryBytesTotal))",
            "storage_bytes_total = \(value(.storageBytesTotal))", "kvm_available = \(value(.kvmAvailable))",
            "cloud_hypervisor_available = \(value(.cloudHypervisorAvailable))", "last_facts_at = \(value(.now))", "updated_at = \(value(.now))",
        ] + netbird.map { fact in
            "\(fact.rawValue) = CASE WHEN \(value(.netbird)) = 1 THEN \(value(fact)) ELSE \(fact.rawValue) END"
        } + [
            "netbird_updated_at = CASE WHEN \(value(.netbird)) = 1 THEN \(value(.now)) ELSE netbird_updated_at END",
            "hypervisors = COALESCE(\(value(.hypervisors)), hypervisors)", "hypervisor = COALESCE(\(value(.hypervisor)), hypervisor)",
        ]
        return assignments.joined(separator: ",\n    ")
    }

    /// Replace the host's image catalog with the one its agent reported (at most 1,000
    /// images; entries without a name, or named twice, are skipped).
    private static func imageCatalogStatements(
        _ catalog: HeartbeatRequest.ImageCatalog, agent: AgentRecord, now: Date
    ) -> [SQLStatement] {
        var statements = [SQLStatement(raw: "DELETE FROM host_images WHERE host_id = $1", [.text(agent.hostID)])]
        var names: Set<String> = []
        for image in catalog.images.prefix(1000) where !image.name.isEmpty && names.insert(image.name).inserted {
            guard let kind = image.kind.storedName else { continue }
            statements.append(
                SQLStatement(
                    raw: """
                        INSERT INTO host_images (host_id, tenant_id, site_id, name, digest, size_bytes, kind)
                        VALUES ($1, $2, $3, $4, $5, $6, $7)
                        """,
                    [.text(agent.hostID), .text(agent.tenantID), .text(agent.siteID), .text(String(image.name.prefix(255))),
                     .text(String(image.digest.prefix(80))), .int(max(image.sizeBytes, 0)), .text(kind)]
                )
            )
        }
        let keys = catalog.kernelArgKeys.filter { !$0.isEmpty && !$0.contains(",") }.prefix(200)
        statements.append(
            SQLStatement(
                raw: "UPDATE hosts SET kernel_arg_keys = $1, images_updated_at = $2 WHERE id = $3",
                [.text(keys.joined(separator: ",")), .timestamp(now), .text(agent.hostID)]
            )
        )
        return statements
    }

    /// Execution updates for executions of the agent's tenant and site, following the same
    /// rules as result reports: recorded only when the agent holds the plan's lease with
    /// the update's token (an IN_PROGRESS update then extends the lease); an update the
    /// agent repeats for a plan it finished, or for an execution that is already terminal,
    /// is skipped; any other claim is refused (one rejection per plan). Returns the VM
    /// transitions and the rejections.
    private static func recordExecutionUpdates(
        _ updates: [HeartbeatIngest.ExecutionUpdate], agent: AgentRecord, lease: LeaseOptions, now: Date, on connection: any SQLConnection,
        dialect: SQLDialect
    ) throws(StoreError) -> (transitions: Int, rejections: [LeaseRejection]) {
        var transitions = 0
        var touchedPlans: [String] = []
        var rejections: [LeaseRejection] = []
        for update in updates {
            let outcome: ExecutionStateMachine.Report
            switch update.state {
            case .inProgress: outcome = .inProgress
            case .succeeded: outcome = .succeeded
            case .failed:
                outcome = .failed(ExecutionStateMachine.Failure(code: update.errorCode, message: update.errorMessage))
            default: continue
            }
            let owner = try connection.query(
                SQLStatement(
                    raw: "SELECT plan_id FROM executions WHERE id = $1 AND tenant_id = $2 AND site_id = $3",
                    [.text(update.executionID), .text(agent.tenantID), .text(agent.siteID)]
                )
            )
            guard let planID = try owner.first?.text("plan_id"),
                  let planLease = try lockedPlanLease(planID, agent: agent, on: connection, dialect: dialect) else { continue }
            switch planLease.admitsProgress(from: agent.id, token: update.leaseToken) {
            case .holder:
                break
            case .finishedByClaimant:
                continue
            case .refused(let reason, let message):
                if !rejections.contains(where: { $0.planId == planID }) {
                    rejections.append(LeaseRejection(planId: planID, leaseToken: update.leaseToken, reason: reason, message: message))
                }
                continue
            }
            let rows = try connection.query(
                SQLStatement(raw: "SELECT id, state, operation_type, vm_id FROM executions WHERE id = $1", [.text(update.executionID)])
            )
            guard let execution = try rows.first.map(StoredExecution.init(row:)), !execution.state.isTerminal else { continue }
            transitions += try record(
                outcome, of: execution, planID: planID, agent: agent, startedAt: update.updatedAt, at: update.updatedAt,
                on: connection, dialect: dialect
            )
            if case .inProgress = outcome {
                try extendLease(of: planID, lease: lease, now: now, on: connection)
            }
            if !touchedPlans.contains(planID) { touchedPlans.append(planID) }
        }
        for planID in touchedPlans {
            _ = try rollUpPlan(planID, now: now, on: connection)
        }
        return (transitions, rejections)
    }

    /// Reported VMs, scoped to the agent's host: a VM the control plane placed on another
    /// host, or has not placed yet, or of another tenant or site, is skipped, never moved
    /// (defect 42; a VM belongs to the host that runs it until the control plane moves it);
    /// DELETED VMs stay deleted; a new VM is inserted on the agent's host (its name, when
    /// taken in the site, becomes its id). `last_transition_at` changes only with the
    /// state (defect 25).
    ///
    /// The known VMs are read (and locked, in id order) with one statement and updated with
    /// one more, whatever their number: a heartbeat reports every VM of its host each time,
    /// and one round trip per VM was most of the heartbeat's cost (README, Performance).
    /// A report that names an id twice is applied one VM at a time, in order, as before.
    /// `stored` is what ``storedVMsPrefetch(of:)`` read, when the caller sent it.
    private static func recordVMReports(
        _ reports: [HeartbeatIngest.ReportedVM], stored: [SQLRow]?, agent: AgentRecord, now: Date, on connection: any SQLConnection,
        dialect: SQLDialect
    ) throws(StoreError) -> (transitions: Int, foreign: [String]) {
        let ids = reports.map(\.id)
        guard !ids.isEmpty else { return (0, []) }
        if Set(ids).count != ids.count {
            var transitions = 0
            var foreign: [String] = []
            for report in reports {
                let result = try recordVMReportsBatch([report], stored: nil, agent: agent, now: now, on: connection, dialect: dialect)
                transitions += result.transitions
                foreign += result.foreign
            }
            return (transitions, foreign)
        }
        return try recordVMReportsBatch(reports, stored: stored, agent: agent, now: now, on: connection, dialect: dialect)
    }

    /// The unlocked read of the reported VMs that ``recordVMReports(_:stored:agent:now:on:dialect:)``
    /// starts with, for reports with distinct ids (nil otherwise: those are read one VM at a time).
    private static func storedVMsPrefetch(of reports: [HeartbeatIngest.ReportedVM]) -> SQLStatement? {
        prefetchableIDs(of: reports).map { storedVMsQuery(ids: $0, lockClause: "") }
    }

    /// The ids of the reported VMs when they may be read before the reports are applied:
    /// some, all distinct; nil otherwise.
    static func prefetchableIDs(of reports: [HeartbeatIngest.ReportedVM]) -> [String]? {
        let ids = reports.map(\.id)
        return ids.isEmpty || Set(ids).count != ids.count ? nil : ids
    }

    /// ``recordVMReports(_:agent:now:on:dialect:)`` for reports with distinct ids.
    ///
    /// The stored VMs are read without locks first: a heartbeat reports every VM of its
    /// host each time, almost always as it was, and such a report neither locks nor writes
    /// the VM (on PostgreSQL a row lock is a write too). Only the VMs whose state, size or
    /// host changed are read again under their row locks, in id order, and updated, with
    /// `updated_at`; so `updated_at` tells when a VM last changed.
    private static func recordVMReportsBatch(
        _ reports: [HeartbeatIngest.ReportedVM], stored: [SQLRow]?, agent: AgentRecord, now: Date, on connection: any SQLConnection,
        dialect: SQLDialect
    ) throws(StoreError) -> (transitions: Int, foreign: [String]) {
        let unlocked: [String: SQLRow]
        if let stored {
            unlocked = try byID(stored)
        } else {
            unlocked = try storedVMs(of: reports, lockClause: "", on: connection)
        }
        var classified = try classify(reports, stored: unlocked, agent: agent)
        let lockClause = dialect.lockClause(.update)
        if !classified.changed.isEmpty && !lockClause.isEmpty {
            let changed = classified.changed.map(\.report)
            let locked = try classify(changed, stored: storedVMs(of: changed, lockClause: lockClause, on: connection), agent: agent)
            classified.changed = locked.changed
            classified.unknown += locked.unknown
            classified.foreign += locked.foreign
        }
        var transitions = 0
        let cause = AuditMetadata(source: "heartbeat")
        for report in classified.unknown {
            transitions += try insertReportedVM(report, agent: agent, now: now, cause: cause, on: connection)
        }
        guard !classified.changed.isEmpty else { return (transitions, classified.foreign) }
        // One row of parameters per VM after the two shared ones ($1 host, $2 now).
        var bindings: [SQLValue] = [.text(agent.hostID), .timestamp(now)]
        var values: [String] = []
        for change in classified.changed {
            let base = bindings.count
            values.append(
                "(CAST($\(base + 1) AS TEXT), CAST($\(base + 2) AS TEXT), CAST($\(base + 3) AS BIGINT), CAST($\(base + 4) AS BIGINT), "
                    + "CAST($\(base + 5) AS BIGINT), CAST($\(base + 6) AS TEXT), CAST($\(base + 7) AS TEXT), CAST($\(base + 8) AS TEXT), "
                    + "CAST($\(base + 9) AS BIGINT))")
            bindings += [
                .text(change.report.id), .stored(change.state), .int(change.vcpuCount), .int(change.memoryMiB),
                change.from != change.state ? .timestamp(change.report.updatedAt) : .null,
                .text(change.report.stateReason), .text(change.report.hypervisor), change.report.consoleTail.map(SQLValue.text) ?? .null,
                .int(change.recordChanged ? 1 : 0),
            ]
        }
        try connection.execute(
            SQLStatement(
                raw: """
                    WITH reported (id, state, vcpu_count, memory_mib, transition_at, state_reason, hypervisor, console_tail, touched)
                        AS (VALUES \(values.joined(separator: ", ")))
                    UPDATE microvms SET state = reported.state, vcpu_count = reported.vcpu_count, memory_mib = reported.memory_mib,
                                        last_transition_at = COALESCE(reported.transition_at, microvms.last_transition_at),
                                        state_reason = reported.state_reason,
                                        hypervisor = CASE WHEN reported.hypervisor = '' THEN microvms.hypervisor ELSE reported.hypervisor END,
                                        console_tail = COALESCE(reported.console_tail, microvms.console_tail),
                                        console_updated_at = CASE WHEN reported.console_tail IS NULL THEN microvms.console_updated_at
                                                                  ELSE $2 END,
                                        updated_at = CASE WHEN reported.touched = 1 THEN $2 ELSE microvms.updated_at END
                    FROM reported
                    WHERE microvms.id = reported.id AND microvms.host_id = $1
                    """,
                bindings
            )
        )
        for change in classified.changed where change.from != change.state {
            try auditTransition(vmID: change.report.id, from: change.from, to: change.state, agent: agent, at: change.report.updatedAt,
                                cause: cause, on: connection)
            transitions += 1
        }
        return (transitions, classified.foreign)
    }

    /// The stored VMs of the reports, by id; `lockClause` locks them in id order.
    private static func storedVMs(
        of reports: [HeartbeatIngest.ReportedVM], lockClause: String, on connection: any SQLConnection
    ) throws(StoreError) -> [String: SQLRow] {
        let ids = reports.map(\.id)
        guard !ids.isEmpty else { return [:] }
        return try byID(connection.query(storedVMsQuery(ids: ids, lockClause: lockClause)))
    }

    /// The query of the stored VMs with these (one or more) ids.
    private static func storedVMsQuery(ids: [String], lockClause: String) -> SQLStatement {
        let placeholders = (1...ids.count).map { "$\($0)" }.joined(separator: ", ")
        return SQLStatement(
            raw: "SELECT \(storedVMColumns) FROM microvms WHERE id IN (\(placeholders)) ORDER BY id \(lockClause)",
            ids.map(SQLValue.text)
        )
    }

    /// What a heartbeat's VM reports are compared with.
    static let storedVMColumns = "id, tenant_id, site_id, host_id, state, vcpu_count, memory_mib, state_reason, hypervisor"

    /// Rows by their `id` column.
    static func byID(_ rows: [SQLRow]) throws(StoreError) -> [String: SQLRow] {
        var stored: [String: SQLRow] = [:]
        for row in rows { stored[try row.text("id")] = row }
        return stored
    }

    /// Reports sorted by what they do to the stored VMs.
    private struct ClassifiedVMReports {
        struct Change {
            let report: HeartbeatIngest.ReportedVM
            let state: MicroVM.State
            let from: MicroVM.State
            let vcpuCount: Int64
            let memoryMiB: Int64
            /// The state, size, reason or hypervisor changed (not only the console).
            let recordChanged: Bool
        }

        /// Known VMs of the agent's host whose state, size, reason, hypervisor or console differ.
        var changed: [Change] = []
        /// VMs not stored yet.
        var unknown: [HeartbeatIngest.ReportedVM] = []
        /// Ids of VMs not placed on the agent's host.
        var foreign: [String] = []
    }

    /// The ids of the reported VMs that are not on the agent's host, when the reports need
    /// nothing written (each VM of the host as stored, or DELETED, and no VM new); nil when
    /// some do, or when they were not read with one statement (`stored` nil).
    private static func foreignIfUnchanged(
        _ reports: [HeartbeatIngest.ReportedVM], stored: [SQLRow]?, agent: AgentRecord
    ) throws(StoreError) -> [String]? {
        guard !reports.isEmpty else { return [] }
        guard let stored else { return nil }
        let classified = try classify(reports, stored: byID(stored), agent: agent)
        return classified.changed.isEmpty && classified.unknown.isEmpty ? classified.foreign : nil
    }

    /// Sorts the reports against the stored VMs: DELETED VMs and unchanged ones need nothing.
    private static func classify(
        _ reports: [HeartbeatIngest.ReportedVM], stored: [String: SQLRow], agent: AgentRecord
    ) throws(StoreError) -> ClassifiedVMReports {
        var classified = ClassifiedVMReports()
        for report in reports {
            let vmID = report.id
            guard let row = stored[vmID] else {
                classified.unknown.append(report)
                continue
            }
            guard try row.text("tenant_id") == agent.tenantID, try row.text("site_id") == agent.siteID,
                  try row.optionalText("host_id") == agent.hostID else {
                classified.foreign.append(vmID)
                continue
            }
            let from: MicroVM.State = try row.stored("state")
            guard from != .deleted else { continue }
            let vcpuCount = try row.int64("vcpu_count")
            let memoryMiB = try row.int64("memory_mib")
            let stateReason = try row.text("state_reason")
            let hypervisor = try row.text("hypervisor")
            let recordChanged = report.state != from || vcpuCount != Int64(report.vcpuCount) || memoryMiB != report.memoryMiB
                || stateReason != report.stateReason || (!report.hypervisor.isEmpty && hypervisor != report.hypervisor)
            if recordChanged || report.consoleTail != nil {
                classified.changed.append(ClassifiedVMReports.Change(
                    report: report, state: report.state, from: from, vcpuCount: Int64(report.vcpuCount), memoryMiB: report.memoryMiB,
                    recordChanged: recordChanged))
            }
        }
        return classified
    }

    /// Inserts a VM first reported by a heartbeat (its name, when taken in the site,
    /// becomes its id); returns 1 when it inserted, 0 when another transaction did first.
    private static func insertReportedVM(
        _ report: HeartbeatIngest.ReportedVM, agent: AgentRecord, now: Date, cause: AuditMetadata, on connection: any SQLConnection
    ) throws(StoreError) -> Int {
        let vmID = report.id
        let state = report.state
        var name = report.name
        let taken = try connection.query(
            SQLStatement(
                raw: "SELECT id FROM microvms WHERE tenant_id = $1 AND site_id = $2 AND name = $3 AND state <> 'DELETED'",
                [.text(agent.tenantID), .text(agent.siteID), .text(name)]
            )
        )
        if !taken.isEmpty { name = vmID }
        let inserted = try connection.query(
            SQLStatement(
                raw: """
                    INSERT INTO microvms (id, tenant_id, site_id, host_id, name, state, vcpu_count, memory_mib,
                                          last_transition_at, created_at, updated_at, state_reason, hypervisor, console_tail,
                                          console_updated_at)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
                    ON CONFLICT DO NOTHING
                    RETURNING id
                    """,
                [
                    .text(vmID), .text(agent.tenantID), .text(agent.siteID), .text(agent.hostID), .text(name), .stored(state),
                    .int(Int64(report.vcpuCount)), .int(report.memoryMiB), .timestamp(report.updatedAt),
                    .timestamp(now), .timestamp(now), .text(report.stateReason), .text(report.hypervisor),
                    .text(report.consoleTail ?? ""), report.consoleTail == nil ? .null : .timestamp(now),
                ]
            )
        )
        guard !inserted.isEmpty else { return 0 }
        try auditTransition(vmID: vmID, from: nil, to: state, agent: agent, at: report.updatedAt, cause: cause, on: connection)
        return 1
    }
}

extension SQLStore.ReadAheadRows {
    /// The results of ``SQLStore/readingAheadStatements(_:placement:lease:now:dialect:)``, in their order.
    init(results: ArraySlice<[SQLRow]>) {
        self.init(agent: results[results.startIndex].first, storedVMs: results.count == 3 ? results[results.startIndex + 1] : nil,
                  leaseCandidates: results[results.endIndex - 1])
    }
}
