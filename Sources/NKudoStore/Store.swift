public import Foundation
public import NKudoContract

/// Everything the control plane persists. One protocol, two implementations (SQLite,
/// the embedded default, and PostgreSQL) that pass the same behavioural test suite.
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

    // MARK: Tenants and API keys

    /// Creates a tenant. `.conflict` when the slug exists.
    func createTenant(_ tenant: NewTenant) async throws(StoreError) -> Tenant
    /// Stores a new API key (hash only). `.notFound` for an unknown tenant.
    func createAPIKey(_ key: NewAPIKey) async throws(StoreError) -> APIKeyRecord
    /// The key with this hash if it is neither revoked nor expired at `now`. No write.
    func apiKey(hash: String, now: Date) async throws(StoreError) -> APIKeyRecord?

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
    /// Rotates the agent's certificate serial and refresh token atomically, only if the
    /// current values still match `expected` (compare-and-swap; `.unauthorized` otherwise).
    func rotateAgentCredentials(_ rotation: CredentialRotation, now: Date) async throws(StoreError) -> AgentRecord

    // MARK: Heartbeats and plans

    /// In ONE transaction: ingests the heartbeat (agent ONLINE, host facts unless the
    /// heartbeat is stale — `heartbeat_seq` lower than the stored one —, site ONLINE,
    /// reported VMs scoped to the agent's tenant and site, execution updates, plan
    /// roll-ups) and leases plans to the agent (see ``leasePlans(agentID:limit:ttl:now:)``).
    func ingestHeartbeat(_ heartbeat: HeartbeatIngest, lease: LeaseOptions, now: Date) async throws(StoreError) -> [LeasedPlanRecord]
    /// Leases up to `limit` PENDING/IN_PROGRESS plans of the agent's site that are not
    /// leased to another agent (or whose lease expired), oldest first, with row locks
    /// that skip rows another replica is leasing. A plan already leased to this agent and
    /// not expired is not sent again. Leased actions carry their own execution ids, in
    /// submission order; only PENDING/IN_PROGRESS executions are included.
    func leasePlans(agentID: String, lease: LeaseOptions, now: Date) async throws(StoreError) -> [LeasedPlanRecord]
    /// Applies a plan idempotently per (tenant, site, idempotency key): a replay with the
    /// same request hash returns the stored plan with `deduplicated = true`; a different
    /// hash is `.conflict`. Validates VM references (`.invalid` / `.notFound`), creates
    /// VMs for CREATE, keeps the submitted action order (explicit ordinal).
    func applyPlan(_ plan: NewPlan, now: Date) async throws(StoreError) -> AppliedPlan
    /// Records an agent's action results. The plan must be leased to this agent
    /// (`.forbidden` otherwise; `.notFound` for unknown plans of the agent's tenant/site).
    /// A failed action cancels the plan's remaining PENDING executions; the plan rolls up
    /// to SUCCEEDED/FAILED; VM states follow (DELETE leaves state DELETED). Results for a
    /// terminal plan are ignored (its status is returned).
    func reportResults(_ report: ResultReport, now: Date) async throws(StoreError) -> Plan.Status

    // MARK: Logs

    /// Stores log entries of executions of the agent's tenant. Duplicates are detected by
    /// (execution, sequence, emitted_at), so an agent restarting its sequence loses nothing;
    /// entries for unknown executions are dropped. A plan id with an action id is mapped to
    /// that action's execution.
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
    /// The most recent executions of a site (newest first).
    func recentExecutions(tenantID: String, siteID: String, limit: Int) async throws(StoreError) -> [Execution]
    /// The most recent logs of a site's executions (newest first).
    func recentLogs(tenantID: String, siteID: String, limit: Int) async throws(StoreError) -> [ExecutionLog]

    // MARK: Background work and observability

    /// Marks agents whose last heartbeat is older than `cutoff` OFFLINE and rolls sites
    /// up to ONLINE / PARTIAL / OFFLINE; writes only rows that change. Safe to run in
    /// every replica at once.
    func sweepOffline(cutoff: Date, now: Date) async throws(StoreError) -> SweepResult
    /// Appends an audit event (failures are the caller's to log, never to surface).
    func recordAudit(_ event: AuditEvent) async throws(StoreError)
    /// Counts for metrics: plans by status, agents by state.
    func statistics() async throws(StoreError) -> StoreStatistics
    /// The connection pool's current use, for metrics.
    var connectionPool: ConnectionPoolStatistics { get }
}
