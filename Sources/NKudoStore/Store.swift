public import NKudoSQL
public import Foundation
public import NKudoContract

/// Everything the control plane persists. One protocol, implemented by ``SQLStore`` over
/// two databases (SQLite, the embedded default, and PostgreSQL) that pass the same
/// behavioural test suite.
///
/// Ids are canonical lowercase UUID strings; callers validate ids before calling, so a
/// malformed id never reaches the database. Secrets (API keys, tokens, refresh tokens)
/// arrive as SHA-256 hex only. Every operation that must be atomic is one transaction,
/// safe with several control-plane processes on one PostgreSQL.
public protocol Store: Sendable {
    // MARK: Lifecycle

    /// Applies pending migrations (idempotent; PostgreSQL: under an advisory lock).
    func migrate() async throws(StoreError) -> [String]
    /// Whether the schema is current; `.schemaBehind` when migrations are pending.
    func checkSchema() async throws(StoreError)
    /// Cheap round trip to the database.
    func ping() async throws(StoreError)
    /// Closes every connection.
    func close() async
    /// Plans arriving for sites (applied through this process or, on PostgreSQL, any
    /// replica): what the long polls of agents wait on.
    var planArrivals: PlanArrivals { get }

    // MARK: Tenants and API keys

    /// Creates a tenant. `.conflict` when the slug exists.
    func createTenant(_ tenant: NewTenant) async throws(StoreError) -> Tenant
    /// Stores a new API key (hash only). `.notFound` for an unknown tenant.
    func createAPIKey(_ key: NewAPIKey) async throws(StoreError) -> APIKeyRecord
    /// The key with this hash if it is neither revoked nor expired at `now`. No write.
    func apiKey(hash: String, now: Date) async throws(StoreError) -> APIKeyRecord?
    /// Every tenant, newest first.
    func listTenants() async throws(StoreError) -> [Tenant]
    /// The tenant's API keys (never their hashes), newest first, revoked and expired ones
    /// included. `.notFound` for an unknown tenant.
    func listAPIKeys(tenantID: String) async throws(StoreError) -> [APIKey]
    /// Revokes the tenant's key at `now`: ``apiKey(hash:now:)`` no longer finds it. A key
    /// revoked before keeps its first `revoked_at`. `.notFound` when the tenant has no such key.
    func revokeAPIKey(tenantID: String, id: String, now: Date) async throws(StoreError) -> APIKeyRevocation

    // MARK: Sites

    /// Creates a site (OFFLINE, no heartbeat). `.conflict` for a duplicate name or external key in the tenant.
    func createSite(_ site: NewSite) async throws(StoreError) -> Site
    /// The tenant's sites, newest first.
    func listSites(tenantID: String) async throws(StoreError) -> [Site]
    /// The site if it exists in this tenant.
    func site(id: String, tenantID: String) async throws(StoreError) -> Site?

    // MARK: Enrollment and agents

    /// Stores a one-time enrollment token (hash only). `.notFound` when the site is not the tenant's.
    func issueEnrollmentToken(_ token: NewEnrollmentToken) async throws(StoreError) -> EnrollmentTokenRecord
    /// In ONE transaction: consumes the token (unknown, used or expired → `.unauthorized`),
    /// upserts the host by (tenant, site, hostname), inserts the agent, marks the site
    /// ONLINE. Any failure rolls everything back, so the token is not burned. Of two
    /// concurrent enrollments with one token exactly one succeeds. `.conflict` when the
    /// host already has an agent.
    func enroll(_ enrollment: NewEnrollment, now: Date) async throws(StoreError) -> EnrollmentRecord
    /// The agent with this id.
    func agent(id: String) async throws(StoreError) -> AgentRecord?
    /// Marks that the agent's current certificate was used: the credentials a renewal
    /// replaced stop working. A no-op when there are none.
    func confirmCurrentCredentials(agentID: String) async throws(StoreError)
    /// Rotates the agent's certificate serial and refresh token, if `expected` is the
    /// current credential or the one the latest renewal replaced (within its grace): a
    /// renewal whose response was lost is made again with the same old credentials. The
    /// credentials the agent has (the current ones, or those still in grace) stay valid
    /// until the new ones are first used or `graceUntil`. `.unauthorized` otherwise, and
    /// for a retired agent.
    func rotateAgentCredentials(_ rotation: CredentialRotation, now: Date) async throws(StoreError) -> AgentRecord
    /// Retires a host of the tenant's site: its agent stops authenticating, the plans it
    /// held are released, its VMs are no longer placed on it, its hostname is free for a
    /// new enrollment and it leaves the host list. `.notFound` for an unknown or retired host.
    func retireHost(tenantID: String, siteID: String, hostID: String, now: Date) async throws(StoreError) -> HostRetirement

    // MARK: Heartbeats and plans

    /// In ONE transaction: ingests the heartbeat (agent ONLINE, host facts unless the
    /// heartbeat is stale — `heartbeat_seq` not above the stored one —, site ONLINE, VMs
    /// the agent's host has, execution updates of plans it holds, plan roll-ups), extends
    /// the leases it holds, refuses the claims it cannot make, and leases plans to it (see
    /// ``leasePlans(agentID:lease:now:)``; plans leased to it that it does not claim are
    /// delivered again). Heartbeats of agents that were ONLINE may share that transaction
    /// with other agents' heartbeats; when such a heartbeat turns out to need more than the
    /// agent's liveness and the host's facts, its liveness is committed with the others
    /// and the rest runs in a transaction of its own right after.
    func ingestHeartbeat(_ heartbeat: HeartbeatIngest, lease: LeaseOptions, now: Date) async throws(StoreError) -> HeartbeatOutcome
    /// Leases up to `limit` PENDING/IN_PROGRESS plans of the agent's site that are not
    /// leased to another agent (or whose lease expired) and whose VMs are not placed on
    /// another host, oldest first, with row locks that skip rows another replica is
    /// leasing. A plan already leased to this agent and not expired is not sent again. A
    /// plan taken over from another agent gets the next fencing token. Leased actions carry
    /// their own execution ids, in submission order; only PENDING/IN_PROGRESS executions
    /// are included.
    func leasePlans(agentID: String, lease: LeaseOptions, now: Date) async throws(StoreError) -> [LeasedPlanRecord]
    /// Applies a plan idempotently per (tenant, site, idempotency key): a replay with the
    /// same request hash returns the stored plan with `deduplicated = true`; a different
    /// hash is `.conflict`. Validates VM references (`.invalid` / `.notFound`), creates
    /// VMs for CREATE, keeps the submitted action order (explicit ordinal).
    func applyPlan(_ plan: NewPlan, now: Date) async throws(StoreError) -> AppliedPlan
    /// Records an agent's action results. The agent must hold the plan's lease with the
    /// report's fencing token (`.leaseLost` otherwise; `.notFound` for unknown plans of the
    /// agent's tenant/site). A failed action cancels the plan's remaining PENDING
    /// executions; the plan rolls up to SUCCEEDED/FAILED; VM states follow (DELETE leaves
    /// state DELETED) and an unplaced VM is placed on the agent's host. Results the agent
    /// repeats for a plan it finished are ignored (its status is returned).
    func reportResults(_ report: ResultReport, now: Date) async throws(StoreError) -> Plan.Status
    /// The plan with its executions (in action order) if it belongs to the tenant.
    func plan(id: String, tenantID: String) async throws(StoreError) -> Plan?
    /// Plans of the tenant's site, newest (highest version) first, each with its executions,
    /// at most `limit`, after the `cursor` of a previous page (`.invalid` for a cursor this
    /// store did not hand out).
    func listPlans(tenantID: String, siteID: String, limit: Int, cursor: String?) async throws(StoreError) -> PlanPage

    // MARK: Logs

    /// Stores log entries of executions of the agent's tenant and site whose plan's latest
    /// lease was granted to the agent with the entry's fencing token. Duplicates are
    /// detected by (execution, sequence, emitted_at), so an agent restarting its sequence
    /// loses nothing; entries for unknown executions or plans the agent does not hold are
    /// dropped. A plan id with an action id is mapped to that action's execution.
    func ingestLogs(agentID: String, entries: [LogEntry], now: Date) async throws(StoreError) -> LogIngestResult
    /// The execution if it belongs to the tenant.
    func execution(id: String, tenantID: String) async throws(StoreError) -> Execution?
    /// Logs of an execution, newest first, at most `limit`, after the `cursor` of a previous page.
    func listExecutionLogs(tenantID: String, executionID: String, limit: Int, cursor: String?) async throws(StoreError) -> LogPage

    // MARK: Queries

    /// Hosts of a site with their agent's state and NetBird status, by hostname.
    func listHosts(tenantID: String, siteID: String) async throws(StoreError) -> [NKudoContract.Host]
    /// MicroVMs of a site, most recently updated first.
    func listMicroVMs(tenantID: String, siteID: String) async throws(StoreError) -> [MicroVM]
    /// The VM if it is one of the tenant's site.
    func microVM(tenantID: String, siteID: String, vmID: String) async throws(StoreError) -> MicroVM?
    /// The image catalogs of a site's hosts (not retired), by hostname.
    func listSiteImages(tenantID: String, siteID: String) async throws(StoreError) -> [HostImages]
    /// The console a VM's agent last shipped; nil when the VM is not one of the site.
    func microVMConsole(tenantID: String, siteID: String, vmID: String) async throws(StoreError) -> GetMicroVMConsoleResponse?
    /// The most recent executions of a site (newest first).
    func recentExecutions(tenantID: String, siteID: String, limit: Int) async throws(StoreError) -> [Execution]
    /// The most recent logs of a site's executions (newest first).
    func recentLogs(tenantID: String, siteID: String, limit: Int) async throws(StoreError) -> [ExecutionLog]

    // MARK: Web console sessions

    /// Stores a new console session (its id's SHA-256 only), first deleting sessions last
    /// used before `cutoff`. `.conflict` when the id hash exists.
    func createConsoleSession(_ session: NewConsoleSession, expiredBefore cutoff: Date) async throws(StoreError)
    /// The session with this id hash if it was used at or after `idleSince`, opened at or
    /// after `createdSince` and, for a tenant session, its API key is neither revoked nor
    /// expired at `now`. Marks it used at `now` (at most once a minute).
    func consoleSession(idHash: String, now: Date, idleSince: Date, createdSince: Date) async throws(StoreError) -> ConsoleSessionRecord?
    /// Deletes the session with this id hash (signing out); a no-op when there is none.
    func deleteConsoleSession(idHash: String) async throws(StoreError)

    // MARK: Background work and observability

    /// Marks agents whose last heartbeat is older than `cutoff` OFFLINE and rolls sites
    /// up to ONLINE / PARTIAL / OFFLINE; writes only rows that change. Safe to run in
    /// every replica at once.
    func sweepOffline(cutoff: Date, now: Date) async throws(StoreError) -> SweepResult
    /// Appends an audit event (failures are the caller's to log, never to surface) and
    /// returns its id.
    @discardableResult
    func recordAudit(_ event: NewAuditEvent) async throws(StoreError) -> Int64
    /// Replaces the metadata of an audit event (e.g. the count of aggregated failures).
    func updateAuditMetadata(id: Int64, metadata: AuditMetadata) async throws(StoreError)
    /// The tenant's audit events that pass `filter`, newest first, at most `limit`, after
    /// the `cursor` of a previous page (`.invalid` for a cursor this store did not hand out).
    func listAuditEvents(tenantID: String, filter: AuditEventFilter, limit: Int, cursor: String?) async throws(StoreError) -> AuditEventPage
    /// Deletes audit events that occurred before `cutoff`; returns how many.
    func purgeAuditEvents(before cutoff: Date) async throws(StoreError) -> Int
    /// Counts for metrics: plans by status, agents by state.
    func statistics() async throws(StoreError) -> StoreStatistics
    /// The connection pool's current use, for metrics.
    var connectionPool: ConnectionPoolStatistics { get }
    /// What the queue of heartbeats written many to a transaction did, for metrics.
    var heartbeatQueue: BatchingQueueStatistics { get }
}
