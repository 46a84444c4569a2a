public import Foundation
public import NKudoContract

/// A tenant to create.
public struct NewTenant: Sendable, Hashable {
    public var id: String
    public var slug: String
    public var name: String
    public var primaryRegion: String
    public var dataRetentionDays: Int32
    public var createdAt: Date

    public init(id: String, slug: String, name: String, primaryRegion: String, dataRetentionDays: Int32, createdAt: Date) {
        self.id = id
        self.slug = slug
        self.name = name
        self.primaryRegion = primaryRegion
        self.dataRetentionDays = dataRetentionDays
        self.createdAt = createdAt
    }
}

/// An API key to store.
public struct NewAPIKey: Sendable, Hashable {
    public var id: String
    public var tenantID: String
    public var name: String
    /// SHA-256 hex of the full key string.
    public var keyHash: String
    public var expiresAt: Date?
    public var createdAt: Date

    public init(id: String, tenantID: String, name: String, keyHash: String, expiresAt: Date?, createdAt: Date) {
        self.id = id
        self.tenantID = tenantID
        self.name = name
        self.keyHash = keyHash
        self.expiresAt = expiresAt
        self.createdAt = createdAt
    }
}

/// A stored API key (never the key itself).
public struct APIKeyRecord: Sendable, Hashable {
    public var id: String
    public var tenantID: String
    public var name: String
    public var expiresAt: Date?

    public init(id: String, tenantID: String, name: String, expiresAt: Date?) {
        self.id = id
        self.tenantID = tenantID
        self.name = name
        self.expiresAt = expiresAt
    }
}

/// A site to create.
public struct NewSite: Sendable, Hashable {
    public var id: String
    public var tenantID: String
    public var name: String
    public var externalKey: String?
    public var locationCountryCode: String?
    public var createdAt: Date

    public init(id: String, tenantID: String, name: String, externalKey: String?, locationCountryCode: String?, createdAt: Date) {
        self.id = id
        self.tenantID = tenantID
        self.name = name
        self.externalKey = externalKey
        self.locationCountryCode = locationCountryCode
        self.createdAt = createdAt
    }
}

/// An enrollment token to store.
public struct NewEnrollmentToken: Sendable, Hashable {
    public var id: String
    public var tenantID: String
    public var siteID: String
    /// SHA-256 hex of the token.
    public var tokenHash: String
    public var expiresAt: Date
    public var createdAt: Date

    public init(id: String, tenantID: String, siteID: String, tokenHash: String, expiresAt: Date, createdAt: Date) {
        self.id = id
        self.tenantID = tenantID
        self.siteID = siteID
        self.tokenHash = tokenHash
        self.expiresAt = expiresAt
        self.createdAt = createdAt
    }
}

/// A stored enrollment token.
public struct EnrollmentTokenRecord: Sendable, Hashable {
    public var id: String
    public var tenantID: String
    public var siteID: String
    public var expiresAt: Date

    public init(id: String, tenantID: String, siteID: String, expiresAt: Date) {
        self.id = id
        self.tenantID = tenantID
        self.siteID = siteID
        self.expiresAt = expiresAt
    }
}

/// An enrollment: the token presented and the agent to create (its certificate is
/// already issued for `agentID`; the store only records its serial).
public struct NewEnrollment: Sendable, Hashable {
    /// SHA-256 hex of the presented token.
    public var tokenHash: String
    public var agentID: String
    /// Used when the site has no host of this hostname yet.
    public var hostID: String
    public var hostname: String
    public var agentVersion: String
    public var os: String
    public var arch: String
    public var kernelVersion: String?
    /// Decimal serial of the issued client certificate.
    public var certificateSerial: String
    public var certificateExpiresAt: Date
    /// SHA-256 hex of the refresh token.
    public var refreshTokenHash: String
    /// Host fingerprint hashes as sent by the agent (may be empty).
    public var machineIDSHA256: String
    public var primaryMACSHA256: String

    public init(tokenHash: String, agentID: String, hostID: String, hostname: String, agentVersion: String, os: String, arch: String,
                kernelVersion: String?, certificateSerial: String, certificateExpiresAt: Date, refreshTokenHash: String,
                machineIDSHA256: String, primaryMACSHA256: String) {
        self.tokenHash = tokenHash
        self.agentID = agentID
        self.hostID = hostID
        self.hostname = hostname
        self.agentVersion = agentVersion
        self.os = os
        self.arch = arch
        self.kernelVersion = kernelVersion
        self.certificateSerial = certificateSerial
        self.certificateExpiresAt = certificateExpiresAt
        self.refreshTokenHash = refreshTokenHash
        self.machineIDSHA256 = machineIDSHA256
        self.primaryMACSHA256 = primaryMACSHA256
    }
}

/// Who an enrollment created.
public struct EnrollmentRecord: Sendable, Hashable {
    public var tenantID: String
    public var siteID: String
    public var hostID: String
    public var agentID: String

    public init(tenantID: String, siteID: String, hostID: String, agentID: String) {
        self.tenantID = tenantID
        self.siteID = siteID
        self.hostID = hostID
        self.agentID = agentID
    }
}

/// A stored agent.
public struct AgentRecord: Sendable, Hashable {
    public var id: String
    public var tenantID: String
    public var siteID: String
    public var hostID: String
    /// Decimal serial of the only certificate that authenticates this agent.
    public var certificateSerial: String
    public var certificateExpiresAt: Date
    /// SHA-256 hex of the current refresh token.
    public var refreshTokenHash: String
    public var state: NKudoContract.Host.AgentState
    public var heartbeatSeq: Int64
    public var lastHeartbeatAt: Date?
    /// The serial a renewal replaced, valid until the new certificate is first used or
    /// `previousCredentialsExpireAt` passes; nil when there is none.
    public var previousCertificateSerial: String?
    public var previousCredentialsExpireAt: Date?
    /// When the agent's host was retired; nothing authenticates as a retired agent.
    public var retiredAt: Date?

    public init(id: String, tenantID: String, siteID: String, hostID: String, certificateSerial: String, certificateExpiresAt: Date,
                refreshTokenHash: String, state: NKudoContract.Host.AgentState, heartbeatSeq: Int64, lastHeartbeatAt: Date?,
                previousCertificateSerial: String? = nil, previousCredentialsExpireAt: Date? = nil, retiredAt: Date? = nil) {
        self.id = id
        self.tenantID = tenantID
        self.siteID = siteID
        self.hostID = hostID
        self.certificateSerial = certificateSerial
        self.certificateExpiresAt = certificateExpiresAt
        self.refreshTokenHash = refreshTokenHash
        self.state = state
        self.heartbeatSeq = heartbeatSeq
        self.lastHeartbeatAt = lastHeartbeatAt
        self.previousCertificateSerial = previousCertificateSerial
        self.previousCredentialsExpireAt = previousCredentialsExpireAt
        self.retiredAt = retiredAt
    }

    /// How a certificate with `serial` authenticates the agent at `now`.
    public func credential(serial: String, at now: Date) -> Credential {
        guard retiredAt == nil else { return .retired }
        if serial == certificateSerial { return .current }
        if serial == previousCertificateSerial, let until = previousCredentialsExpireAt, now < until { return .previous }
        return .superseded
    }

    /// Which of the agent's credentials a certificate is.
    public enum Credential: Sendable, Hashable {
        /// The current certificate.
        case current
        /// The certificate the latest renewal replaced, still within its grace.
        case previous
        /// Neither: an older certificate, or one whose grace passed.
        case superseded
        /// The agent is retired.
        case retired
    }
}

/// A certificate renewal: new serial and refresh token, applied only if the agent still
/// has the expected serial (renewal by certificate) or refresh token hash (renewal by
/// refresh token).
public struct CredentialRotation: Sendable, Hashable {
    public enum Expectation: Sendable, Hashable {
        case certificateSerial(String)
        case refreshTokenHash(String)
    }

    public var agentID: String
    public var expected: Expectation
    public var newCertificateSerial: String
    public var newCertificateExpiresAt: Date
    public var newRefreshTokenHash: String
    /// Until when the replaced credentials stay valid if the new ones are never used.
    public var graceUntil: Date

    public init(agentID: String, expected: Expectation, newCertificateSerial: String, newCertificateExpiresAt: Date, newRefreshTokenHash: String,
                graceUntil: Date) {
        self.agentID = agentID
        self.expected = expected
        self.newCertificateSerial = newCertificateSerial
        self.newCertificateExpiresAt = newCertificateExpiresAt
        self.newRefreshTokenHash = newRefreshTokenHash
        self.graceUntil = graceUntil
    }
}

/// Lease parameters of plan delivery.
public struct LeaseOptions: Sendable, Hashable {
    /// At most this many plans per call (≥ 1).
    public var limit: Int
    /// Lease length.
    public var ttl: TimeInterval

    public init(limit: Int, ttl: TimeInterval) {
        self.limit = limit
        self.ttl = ttl
    }
}

/// A heartbeat, normalised once by the service before it reaches the store, which takes
/// the values as they are: ids canonical, states parsed, defaults applied.
public struct HeartbeatIngest: Sendable, Hashable {
    /// A VM as the agent reports it: `id` a canonical UUID, `name` not blank, `state` a
    /// known state (never unspecified), `vcpuCount` and `memoryMiB` at least 1.
    public struct ReportedVM: Sendable, Hashable {
        public var id: String
        public var name: String
        public var state: MicroVM.State
        public var vcpuCount: Int32
        public var memoryMiB: Int64
        public var updatedAt: Date
        /// Why the VM is in its state; `""`: none.
        public var stateReason: String
        /// The hypervisor that runs it; `""`: not reported.
        public var hypervisor: String
        /// The console's last lines when they changed; nil keeps the stored ones.
        public var consoleTail: String?

        public init(id: String, name: String, state: MicroVM.State, vcpuCount: Int32, memoryMiB: Int64, updatedAt: Date,
                    stateReason: String = "", hypervisor: String = "", consoleTail: String? = nil) {
            self.id = id
            self.name = name
            self.state = state
            self.vcpuCount = vcpuCount
            self.memoryMiB = memoryMiB
            self.updatedAt = updatedAt
            self.stateReason = stateReason
            self.hypervisor = hypervisor
            self.consoleTail = consoleTail
        }
    }

    public struct ExecutionUpdate: Sendable, Hashable {
        public var executionID: String
        public var state: Execution.State
        public var errorCode: String?
        public var errorMessage: String?
        public var updatedAt: Date
        /// The fencing token the agent claims; 0: none.
        public var leaseToken: Int64

        public init(executionID: String, state: Execution.State, errorCode: String?, errorMessage: String?, updatedAt: Date, leaseToken: Int64 = 0) {
            self.executionID = executionID
            self.state = state
            self.errorCode = errorCode
            self.errorMessage = errorMessage
            self.updatedAt = updatedAt
            self.leaseToken = leaseToken
        }
    }

    /// A plan the agent says it runs or has queued (`held_leases`).
    public struct HeldLeaseClaim: Sendable, Hashable {
        public var planID: String
        /// 0: the agent has no token.
        public var leaseToken: Int64

        public init(planID: String, leaseToken: Int64) {
            self.planID = planID
            self.leaseToken = leaseToken
        }
    }

    public var agentID: String
    /// 0 when the agent does not number its heartbeats (never stale then).
    public var heartbeatSeq: Int64
    /// nil keeps the stored value.
    public var agentVersion: String?
    public var os: String?
    public var arch: String?
    public var kernelVersion: String?
    /// The host name the host's OS reports, a fact (`os_hostname`); nil keeps the stored
    /// one. Never the host's name, which is the one it enrolled with.
    public var osHostname: String?
    public var cpuCoresTotal: Int32
    public var memoryBytesTotal: Int64
    public var storageBytesTotal: Int64
    public var kvmAvailable: Bool
    public var cloudHypervisorAvailable: Bool
    public var netbird: NetbirdStatus?
    /// The hypervisors installed on the host; nil keeps the stored ones.
    public var hypervisors: [String]?
    /// The hypervisor the agent runs VMs with; nil keeps the stored one.
    public var hypervisor: String?
    /// The agent's image catalog when it changed (replaces the stored one); nil keeps it.
    public var imageCatalog: HeartbeatRequest.ImageCatalog?
    public var microVMs: [ReportedVM]
    public var executionUpdates: [ExecutionUpdate]
    /// The plans the agent runs or has queued: their leases are extended, and a plan leased
    /// to the agent that is not among them is delivered again.
    public var heldLeases: [HeldLeaseClaim]
    /// The serial of the client certificate the heartbeat came with, when the caller left
    /// it to the ingest to check: the heartbeat is then refused (`.unauthorized`, nothing
    /// written) unless it is the agent's current serial. nil: the caller checked it.
    public var certificateSerial: String?

    public init(agentID: String, heartbeatSeq: Int64, agentVersion: String?, os: String?, arch: String?, kernelVersion: String?,
                osHostname: String?, cpuCoresTotal: Int32, memoryBytesTotal: Int64, storageBytesTotal: Int64, kvmAvailable: Bool,
                cloudHypervisorAvailable: Bool, netbird: NetbirdStatus?, microVMs: [ReportedVM], executionUpdates: [ExecutionUpdate],
                heldLeases: [HeldLeaseClaim] = [], certificateSerial: String? = nil, hypervisors: [String]? = nil,
                hypervisor: String? = nil, imageCatalog: HeartbeatRequest.ImageCatalog? = nil) {
        self.certificateSerial = certificateSerial
        self.hypervisors = hypervisors
        self.hypervisor = hypervisor
        self.imageCatalog = imageCatalog
        self.agentID = agentID
        self.heartbeatSeq = heartbeatSeq
        self.agentVersion = agentVersion
        self.os = os
        self.arch = arch
        self.kernelVersion = kernelVersion
        self.osHostname = osHostname
        self.cpuCoresTotal = cpuCoresTotal
        self.memoryBytesTotal = memoryBytesTotal
        self.storageBytesTotal = storageBytesTotal
        self.kvmAvailable = kvmAvailable
        self.cloudHypervisorAvailable = cloudHypervisorAvailable
        self.netbird = netbird
        self.microVMs = microVMs
        self.executionUpdates = executionUpdates
        self.heldLeases = heldLeases
    }
}

/// What a heartbeat did for the agent.
public struct HeartbeatOutcome: Sendable, Hashable {
    /// Plans leased (or delivered again) to the agent.
    public var leased: [LeasedPlanRecord]
    /// Lease claims of the heartbeat that were refused.
    public var rejections: [LeaseRejection]
    /// The highest heartbeat sequence number stored for the agent.
    public var heartbeatSeq: Int64

    public init(leased: [LeasedPlanRecord], rejections: [LeaseRejection], heartbeatSeq: Int64) {
        self.leased = leased
        self.rejections = rejections
        self.heartbeatSeq = heartbeatSeq
    }
}

/// A plan leased to an agent.
public struct LeasedPlanRecord: Sendable, Hashable {
    public struct Action: Sendable, Hashable {
        /// The action's own execution id.
        public var executionID: String
        /// The operation id (unique within the plan).
        public var operationID: String
        public var operation: Execution.Operation
        public var vmID: String
        /// CREATE only.
        public var name: String
        public var vcpuCount: Int32
        public var memoryMiB: Int64
        /// The action as submitted (`ApplyPlanRequest.Action` JSON): what a CREATE boots.
        public var payloadJSON: String

        public init(executionID: String, operationID: String, operation: Execution.Operation, vmID: String, name: String, vcpuCount: Int32,
                    memoryMiB: Int64, payloadJSON: String = "{}") {
            self.executionID = executionID
            self.operationID = operationID
            self.operation = operation
            self.vmID = vmID
            self.name = name
            self.vcpuCount = vcpuCount
            self.memoryMiB = memoryMiB
            self.payloadJSON = payloadJSON
        }
    }

    public var planID: String
    public var leaseExpiresAt: Date
    /// The lease's fencing token.
    public var leaseToken: Int64
    /// In submission order.
    public var actions: [Action]

    public init(planID: String, leaseExpiresAt: Date, leaseToken: Int64, actions: [Action]) {
        self.planID = planID
        self.leaseExpiresAt = leaseExpiresAt
        self.leaseToken = leaseToken
        self.actions = actions
    }
}

/// A plan to apply (validated and defaulted by the service).
public struct NewPlan: Sendable, Hashable {
    public struct Action: Sendable, Hashable {
        public var operationID: String
        public var operation: Execution.Operation
        /// Required for START/STOP/DELETE (must name a VM of the site); CREATE: given or generated.
        public var vmID: String
        public var name: String
        public var vcpuCount: Int32
        public var memoryMiB: Int64
        /// The submitted action as JSON, kept for audit; leases send the agent what it names
        /// beyond the columns (kernel arguments, SSH keys, user-data).
        public var payloadJSON: String
        /// CREATE: what the VM runs (image, kernel, initrd names; `""` when not named).
        public var image: String
        public var kernel: String
        public var initrd: String

        public init(operationID: String, operation: Execution.Operation, vmID: String, name: String, vcpuCount: Int32, memoryMiB: Int64,
                    payloadJSON: String, image: String = "", kernel: String = "", initrd: String = "") {
            self.operationID = operationID
            self.operation = operation
            self.vmID = vmID
            self.name = name
            self.vcpuCount = vcpuCount
            self.memoryMiB = memoryMiB
            self.payloadJSON = payloadJSON
            self.image = image
            self.kernel = kernel
            self.initrd = initrd
        }
    }

    public var planID: String
    public var tenantID: String
    public var siteID: String
    public var idempotencyKey: String
    /// SHA-256 hex of the canonical request (a replay must match it).
    public var requestHash: String
    public var clientRequestID: String?
    /// One execution id per action, in order.
    public var executionIDs: [String]
    public var actions: [Action]

    public init(planID: String, tenantID: String, siteID: String, idempotencyKey: String, requestHash: String, clientRequestID: String?, executionIDs: [String], actions: [Action]) {
        self.planID = planID
        self.tenantID = tenantID
        self.siteID = siteID
        self.idempotencyKey = idempotencyKey
        self.requestHash = requestHash
        self.clientRequestID = clientRequestID
        self.executionIDs = executionIDs
        self.actions = actions
    }
}

/// The result of applying a plan.
public struct AppliedPlan: Sendable, Hashable {
    public var planID: String
    public var planVersion: Int64
    public var status: Plan.Status
    public var deduplicated: Bool
    /// In submission order.
    public var executions: [Execution]

    public init(planID: String, planVersion: Int64, status: Plan.Status, deduplicated: Bool, executions: [Execution]) {
        self.planID = planID
        self.planVersion = planVersion
        self.status = status
        self.deduplicated = deduplicated
        self.executions = executions
    }
}

/// Action results reported by an agent.
public struct ResultReport: Sendable, Hashable {
    public struct Result: Sendable, Hashable {
        /// The operation id (`action_id` on the wire); blank entries are skipped.
        public var operationID: String
        public var ok: Bool
        public var errorCode: String?
        public var message: String?
        public var startedAt: Date?
        public var finishedAt: Date

        public init(operationID: String, ok: Bool, errorCode: String?, message: String?, startedAt: Date?, finishedAt: Date) {
            self.operationID = operationID
            self.ok = ok
            self.errorCode = errorCode
            self.message = message
            self.startedAt = startedAt
            self.finishedAt = finishedAt
        }
    }

    public var agentID: String
    /// The plan; the service resolves `execution_id` (plan id or execution id) first.
    public var planID: String
    public var results: [Result]
    /// The fencing token the agent claims; 0: none.
    public var leaseToken: Int64

    public init(agentID: String, planID: String, results: [Result], leaseToken: Int64 = 0) {
        self.agentID = agentID
        self.planID = planID
        self.results = results
        self.leaseToken = leaseToken
    }
}

/// A log entry from an agent.
public struct LogEntry: Sendable, Hashable {
    /// An execution id, or a plan id together with `actionID`, or a plan id alone (a
    /// plan-level line).
    public var executionID: String
    public var actionID: String?
    public var sequence: Int64
    public var severity: ExecutionLog.Severity
    public var message: String
    public var emittedAt: Date
    /// The fencing token the line was written under; 0: none.
    public var leaseToken: Int64

    public init(executionID: String, actionID: String?, sequence: Int64, severity: ExecutionLog.Severity, message: String, emittedAt: Date,
                leaseToken: Int64 = 0) {
        self.executionID = executionID
        self.actionID = actionID
        self.sequence = sequence
        self.severity = severity
        self.message = message
        self.emittedAt = emittedAt
        self.leaseToken = leaseToken
    }
}

/// What retiring a host did.
public struct HostRetirement: Sendable, Hashable {
    public var hostID: String
    public var agentID: String
    public var retiredAt: Date
    /// Plans whose lease the agent held, released.
    public var releasedPlans: Int

    public init(hostID: String, agentID: String, retiredAt: Date, releasedPlans: Int) {
        self.hostID = hostID
        self.agentID = agentID
        self.retiredAt = retiredAt
        self.releasedPlans = releasedPlans
    }
}

/// Counts of a log ingestion.
public struct LogIngestResult: Sendable, Hashable {
    /// Newly stored entries.
    public var accepted: Int
    /// Entries not stored: duplicates and ``unplaced`` ones.
    public var dropped: Int
    /// Entries that belong to no execution or plan of the agent's site, or to a plan the
    /// agent holds no lease of.
    public var unplaced: Int

    public init(accepted: Int, dropped: Int, unplaced: Int = 0) {
        self.accepted = accepted
        self.dropped = dropped
        self.unplaced = unplaced
    }
}

/// One page of logs.
public struct LogPage: Sendable, Hashable {
    public var logs: [ExecutionLog]
    /// Pass back to get the next (older) page; nil on the last page.
    public var nextCursor: String?

    public init(logs: [ExecutionLog], nextCursor: String?) {
        self.logs = logs
        self.nextCursor = nextCursor
    }
}

/// One page of a site's plans.
public struct PlanPage: Sendable, Hashable {
    /// Newest (highest version) first, each with its executions.
    public var plans: [Plan]
    /// Pass back to get the next (older) page; nil on the last page.
    public var nextCursor: String?

    public init(plans: [Plan], nextCursor: String?) {
        self.plans = plans
        self.nextCursor = nextCursor
    }
}

/// Which of a tenant's audit events to list.
public struct AuditEventFilter: Sendable, Hashable {
    /// An exact action (`site.create`), or a prefix ending in `.` (`plan.`) that matches
    /// every action starting with it; nil for every action.
    public var action: String?
    /// Only events that occurred at or after this time.
    public var since: Date?
    /// Only events that occurred before this time.
    public var until: Date?

    public init(action: String? = nil, since: Date? = nil, until: Date? = nil) {
        self.action = action
        self.since = since
        self.until = until
    }
}

/// One page of audit events.
public struct AuditEventPage: Sendable, Hashable {
    /// Newest first.
    public var events: [AuditEvent]
    /// Pass back to get the next (older) page; nil on the last page.
    public var nextCursor: String?

    public init(events: [AuditEvent], nextCursor: String?) {
        self.events = events
        self.nextCursor = nextCursor
    }
}

/// What revoking an API key did.
public struct APIKeyRevocation: Sendable, Hashable {
    /// The key, with its `revoked_at` (the first revocation's time).
    public var key: APIKey
    /// False when the key had been revoked before (nothing changed).
    public var revokedNow: Bool

    public init(key: APIKey, revokedNow: Bool) {
        self.key = key
        self.revokedNow = revokedNow
    }
}

/// What an offline sweep changed.
public struct SweepResult: Sendable, Hashable {
    public var agentsMarkedOffline: Int
    public var sitesChanged: Int

    public init(agentsMarkedOffline: Int, sitesChanged: Int) {
        self.agentsMarkedOffline = agentsMarkedOffline
        self.sitesChanged = sitesChanged
    }
}

/// An audit event to record (the contract's ``AuditEvent`` is a recorded one).
public struct NewAuditEvent: Sendable, Hashable {
    /// nil for events without a tenant (e.g. a failed admin authentication).
    public var tenantID: String?
    public var siteID: String?
    public var actorType: AuditEvent.ActorType
    /// API key id or agent id; nil for SYSTEM.
    public var actorID: String?
    /// e.g. `tenant.create`, `agent.enroll`, `auth.failure`, `microvm.transition`.
    public var action: String
    public var resourceType: String
    public var resourceID: String
    public var requestID: String?
    public var sourceIP: String?
    /// Stored as a JSON object.
    public var metadata: AuditMetadata
    public var occurredAt: Date

    public init(tenantID: String?, siteID: String?, actorType: AuditEvent.ActorType, actorID: String?, action: String, resourceType: String,
                resourceID: String, requestID: String?, sourceIP: String?, metadata: AuditMetadata = AuditMetadata(), occurredAt: Date) {
        self.tenantID = tenantID
        self.siteID = siteID
        self.actorType = actorType
        self.actorID = actorID
        self.action = action
        self.resourceType = resourceType
        self.resourceID = resourceID
        self.requestID = requestID
        self.sourceIP = sourceIP
        self.metadata = metadata
        self.occurredAt = occurredAt
    }
}

/// Counts for metrics.
public struct StoreStatistics: Sendable, Hashable {
    /// Plans by status name (`PENDING`, …).
    public var plansByStatus: [String: Int]
    /// Agents by state name (`ONLINE`, …).
    public var agentsByState: [String: Int]

    public init(plansByStatus: [String: Int], agentsByState: [String: Int]) {
        self.plansByStatus = plansByStatus
        self.agentsByState = agentsByState
    }
}
