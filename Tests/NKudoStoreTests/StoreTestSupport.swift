import Foundation
import NKudoContract
import Testing

@testable import NKudoStore
import NKudoSQL
import SQLTestSupport

/// The behavioural suite of `SQLStore`: every test runs on SQLite (a temporary file) and
/// on PostgreSQL (a schema of its own; `NKUDO_TEST_POSTGRES_URL`, see
/// `scripts/start-postgres`, or `NKUDO_SKIP_POSTGRES=1` for SQLite only).
///
/// Serialized: the concurrency tests create their own contention (up to 20 tasks, two
/// connection pools), and one test at a time keeps the PostgreSQL connections within the
/// server's limit and leaves the machine's cores to the timing-sensitive driver tests
/// running next to this suite.
@Suite("Store", .serialized)
struct StoreTests {}

/// A migrated store on fresh storage, with builders of the rows tests need.
struct StoreFixture: Sendable {
    let store: SQLStore
    let database: any SQLDatabase
    let storage: TestStorage

    /// The clock tests start from: whole seconds, so timestamps compare exactly.
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    /// `t0` plus `seconds`.
    static func at(_ seconds: TimeInterval) -> Date {
        t0.addingTimeInterval(seconds)
    }

    /// A fresh canonical UUID string.
    static func id() -> String {
        UUID().uuidString.lowercased()
    }

    // MARK: Rows

    func tenant(slug: String = "t-\(StoreFixture.id())") async throws -> Tenant {
        try await store.createTenant(
            NewTenant(id: Self.id(), slug: slug, name: "Tenant \(slug)", primaryRegion: "eu-central-1", dataRetentionDays: 30, createdAt: Self.t0)
        )
    }

    func site(tenantID: String, name: String = "site-\(StoreFixture.id())", createdAt: Date = StoreFixture.t0) async throws -> Site {
        try await store.createSite(NewSite(id: Self.id(), tenantID: tenantID, name: name, externalKey: nil, locationCountryCode: nil, createdAt: createdAt))
    }

    /// Issues a token of the site and returns its hash.
    func token(tenantID: String, siteID: String, expiresAt: Date = StoreFixture.at(900)) async throws -> String {
        let hash = "hash-\(Self.id())"
        _ = try await store.issueEnrollmentToken(
            NewEnrollmentToken(id: Self.id(), tenantID: tenantID, siteID: siteID, tokenHash: hash, expiresAt: expiresAt, createdAt: Self.t0)
        )
        return hash
    }

    func enrollment(tokenHash: String, hostname: String, agentID: String = StoreFixture.id()) -> NewEnrollment {
        NewEnrollment(
            tokenHash: tokenHash, agentID: agentID, hostID: Self.id(), hostname: hostname, agentVersion: "1.0.0", os: "linux",
            arch: "amd64", kernelVersion: "6.1.0", certificateSerial: "1001", certificateExpiresAt: Self.at(86_400),
            refreshTokenHash: "refresh-\(agentID)", machineIDSHA256: "machine-\(hostname)", primaryMACSHA256: "mac-\(hostname)"
        )
    }

    /// Issues a token and enrolls an agent with it.
    func agent(tenantID: String, siteID: String, hostname: String = "host-\(StoreFixture.id())", at time: Date = StoreFixture.t0) async throws -> EnrollmentRecord {
        let hash = try await token(tenantID: tenantID, siteID: siteID)
        return try await store.enroll(enrollment(tokenHash: hash, hostname: hostname), now: time)
    }

    /// A tenant, one of its sites and one enrolled agent.
    func world() async throws -> World {
        let tenant = try await tenant()
        let site = try await site(tenantID: tenant.id)
        let agent = try await agent(tenantID: tenant.id, siteID: site.id)
        return World(tenantID: tenant.id, siteID: site.id, agent: agent)
    }

    /// The world's agent and `count - 1` more enrolled in its site.
    func agents(_ count: Int, in world: World) async throws -> [EnrollmentRecord] {
        var agents = [world.agent]
        while agents.count < count {
            agents.append(try await agent(tenantID: world.tenantID, siteID: world.siteID))
        }
        return agents
    }

    struct World: Sendable {
        let tenantID: String
        let siteID: String
        let agent: EnrollmentRecord
    }

    // MARK: Plans

    static func action(_ operation: Execution.Operation, vm vmID: String, name: String = "", operationID: String = StoreFixture.id()) -> NewPlan.Action {
        NewPlan.Action(
            operationID: operationID, operation: operation, vmID: vmID, name: name, vcpuCount: 2, memoryMiB: 512,
            payloadJSON: #"{"operation":"\#(operation)","vm_id":"\#(vmID)"}"#
        )
    }

    func plan(_ world: World, key: String = StoreFixture.id(), hash: String? = nil, _ actions: [NewPlan.Action]) -> NewPlan {
        NewPlan(
            planID: Self.id(), tenantID: world.tenantID, siteID: world.siteID, idempotencyKey: key, requestHash: hash ?? "hash-\(key)",
            clientRequestID: nil, executionIDs: actions.map { _ in Self.id() }, actions: actions
        )
    }

    /// Applies a plan of `actions` on the world's site.
    func apply(_ world: World, _ actions: [NewPlan.Action], at time: Date = StoreFixture.t0) async throws -> AppliedPlan {
        try await store.applyPlan(plan(world, actions), now: time)
    }

    static let lease = LeaseOptions(limit: 10, ttl: 30)

    /// Applies a plan of `actions` and leases every pending plan of the site to the world's
    /// agent (only the holder of a plan's lease may log or report for it).
    func applyLeased(_ world: World, _ actions: [NewPlan.Action], at time: Date = StoreFixture.t0) async throws -> AppliedPlan {
        let applied = try await apply(world, actions, at: time)
        _ = try await store.leasePlans(agentID: world.agent.agentID, lease: Self.lease, now: time)
        return applied
    }

    // MARK: Heartbeats

    func heartbeat(
        _ agentID: String, seq: Int64 = 0, osHostname: String? = nil, cpu: Int32 = 8, netbird: NetbirdStatus? = nil,
        vms: [HeartbeatIngest.ReportedVM] = [], updates: [HeartbeatIngest.ExecutionUpdate] = []
    ) -> HeartbeatIngest {
        HeartbeatIngest(
            agentID: agentID, heartbeatSeq: seq, agentVersion: nil, os: nil, arch: nil, kernelVersion: nil, osHostname: osHostname,
            cpuCoresTotal: cpu, memoryBytesTotal: 16 << 30, storageBytesTotal: 500 << 30, kvmAvailable: true,
            cloudHypervisorAvailable: true, netbird: netbird, microVMs: vms, executionUpdates: updates
        )
    }

    /// A reported VM as the service normalises it (a nameless VM is named after its id).
    static func vm(_ id: String, _ state: MicroVM.State, name: String? = nil, at time: Date = StoreFixture.t0) -> HeartbeatIngest.ReportedVM {
        HeartbeatIngest.ReportedVM(id: id, name: name ?? id, state: state, vcpuCount: 1, memoryMiB: 256, updatedAt: time)
    }

    static func result(_ operationID: String, ok: Bool, at time: Date, code: String? = nil, message: String? = nil) -> ResultReport.Result {
        ResultReport.Result(operationID: operationID, ok: ok, errorCode: code, message: message, startedAt: nil, finishedAt: time)
    }

    // MARK: Looking into the database

    /// The rows of a query the store offers no API for.
    func rows(_ sql: String, _ bindings: [SQLValue] = []) async throws -> [SQLRow] {
        try await database.withConnection { connection throws(StoreError) in
            try connection.query(SQLStatement(raw: sql, bindings))
        }
    }

    /// Runs a statement the store offers no API for (to set up unusual states).
    func execute(_ sql: String, _ bindings: [SQLValue] = []) async throws {
        try await database.withTransaction { connection throws(StoreError) in
            _ = try connection.execute(SQLStatement(raw: sql, bindings))
        }
    }

    /// The `microvm.transition` audit events of a VM, oldest first, as `FROM→TO`.
    func transitions(of vmID: String) async throws -> [String] {
        try await rows(
            "SELECT metadata_json FROM audit_events WHERE action = 'microvm.transition' AND resource_id = $1 ORDER BY id",
            [.text(vmID)]
        ).map { row in
            let json = try row.text("metadata_json")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: String])
            return "\(object["from"] ?? "?")→\(object["to"] ?? "?")"
        }
    }

    func microVM(_ id: String, world: World) async throws -> MicroVM? {
        try await store.listMicroVMs(tenantID: world.tenantID, siteID: world.siteID).first { $0.id == id }
    }
}

/// Runs `body` with a migrated `SQLStore` on fresh storage of `dialect`.
func withStore(_ dialect: SQLDialect, maxConnections: Int = 8, _ body: (StoreFixture) async throws -> Void) async throws {
    try await withTestDatabase(dialect, maxConnections: maxConnections) { storage, database in
        let store = SQLStore(database: database, logger: silentLogger)
        _ = try await store.migrate()
        try await body(StoreFixture(store: store, database: database, storage: storage))
    }
}
