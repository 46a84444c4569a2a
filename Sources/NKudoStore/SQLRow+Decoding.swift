import Foundation
import NKudoContract
import NKudoSQL

// The contract's types in SQL rows: timestamps, stored enums, records.

extension ProtoTimestamp {
    /// The timestamp of a stored value, exactly (no detour through `Double`).
    init(unixMicroseconds micros: Int64) {
        var seconds = micros / 1_000_000
        var remainder = micros % 1_000_000
        if remainder < 0 {
            seconds -= 1
            remainder += 1_000_000
        }
        self.init(seconds: seconds, nanos: Int32(remainder * 1000))
    }
}

extension SQLValue {
    /// A stored enum's text.
    static func stored<E: StoredEnum>(_ value: E) -> SQLValue {
        .text(value.storedName ?? "")
    }
}

extension SQLRow {
    /// A timestamp column as a contract timestamp; NULL is `nil`.
    func timestamp(_ column: String) throws(StoreError) -> ProtoTimestamp? {
        try optionalInt64(column).map(ProtoTimestamp.init(unixMicroseconds:))
    }

    /// A state column.
    func stored<E: StoredEnum>(_ column: String, as type: E.Type = E.self) throws(StoreError) -> E {
        let name = try text(column)
        guard let value = E(storedName: name) else { throw unexpected(column, "\(E.self) name") }
        return value
    }
}

// MARK: Stored enums

/// A contract enum stored as TEXT under fixed names (the original's state strings).
protocol StoredEnum: Hashable {
    /// Every value the schema allows, with its stored name.
    static var storedNames: [Self: String] { get }
}

extension StoredEnum {
    /// The stored name; `nil` for values the schema does not allow (e.g. UNSPECIFIED).
    var storedName: String? { Self.storedNames[self] }

    /// The value stored under `name`.
    init?(storedName name: String) {
        guard let value = Self.storedNames.first(where: { $0.value == name })?.key else { return nil }
        self = value
    }
}

extension Site.ConnectivityState: StoredEnum {
    static let storedNames: [Self: String] = [.online: "ONLINE", .partial: "PARTIAL", .offline: "OFFLINE"]
}

extension NKudoContract.Host.AgentState: StoredEnum {
    static let storedNames: [Self: String] = [.online: "ONLINE", .degraded: "DEGRADED", .offline: "OFFLINE"]
}

extension MicroVM.State: StoredEnum {
    static let storedNames: [Self: String] = [
        .creating: "CREATING", .stopped: "STOPPED", .running: "RUNNING",
        .deleting: "DELETING", .error: "ERROR", .deleted: "DELETED", .failed: "FAILED",
    ]
}

extension Image.Kind: StoredEnum {
    static let storedNames: [Self: String] = [.disk: "DISK", .kernel: "KERNEL", .initrd: "INITRD"]
}

extension Plan.Status: StoredEnum {
    static let storedNames: [Self: String] = [
        .pending: "PENDING", .inProgress: "IN_PROGRESS", .succeeded: "SUCCEEDED", .failed: "FAILED", .cancelled: "CANCELLED",
    ]

    /// Whether the plan is finished (its executions no longer change).
    var isTerminal: Bool { self == .succeeded || self == .failed || self == .cancelled }
}

extension Execution.State: StoredEnum {
    static let storedNames: [Self: String] = [
        .pending: "PENDING", .inProgress: "IN_PROGRESS", .succeeded: "SUCCEEDED", .failed: "FAILED", .cancelled: "CANCELLED",
    ]

    /// Whether the execution is finished.
    var isTerminal: Bool { self == .succeeded || self == .failed || self == .cancelled }
}

extension Execution.Operation: StoredEnum {
    static let storedNames: [Self: String] = [.create: "CREATE", .start: "START", .stop: "STOP", .delete: "DELETE"]
}

extension ExecutionLog.Severity: StoredEnum {
    static let storedNames: [Self: String] = [.debug: "DEBUG", .info: "INFO", .warn: "WARN", .error: "ERROR"]
}

extension AuditEvent.ActorType: StoredEnum {
    static let storedNames: [Self: String] = [.user: "USER", .agent: "AGENT", .system: "SYSTEM"]
}

extension NetbirdStatus.State: StoredEnum {
    static let storedNames: [Self: String] = [
        .unspecified: "UNSPECIFIED", .connected: "CONNECTED", .degraded: "DEGRADED", .notConfigured: "NOT_CONFIGURED",
    ]
}

// MARK: Rows to records

/// The column lists the row decoders below read, one per table.
enum StoreColumns {
    static let tenant = "id, slug, name, primary_region, data_retention_days, created_at, updated_at"
    static let site = "id, tenant_id, name, external_key, location_country_code, connectivity_state, last_heartbeat_at, created_at"
    static let apiKey = "id, tenant_id, name, expires_at"
    /// An API key as the operator API shows it (``NKudoContract/APIKey``).
    static let apiKeyListing = "id, tenant_id, name, created_at, expires_at, revoked_at"
    static let plan = """
        id, tenant_id, site_id, plan_version, status, idempotency_key, created_at, updated_at, started_at, completed_at
        """
    static let auditEvent = """
        id, tenant_id, site_id, actor_type, actor_id, action, resource_type, resource_id, request_id, source_ip, metadata_json, \
        occurred_at
        """
    static let agent = """
        id, tenant_id, site_id, host_id, cert_serial, cert_expires_at, refresh_token_hash, state, heartbeat_seq, last_heartbeat_at, \
        previous_cert_serial, previous_credentials_expire_at, retired_at
        """
    static let microVM = """
        id, tenant_id, site_id, host_id, name, state, vcpu_count, memory_mib, last_transition_at, updated_at, state_reason, \
        hypervisor, image, kernel, initrd
        """
    static let execution = """
        id, tenant_id, site_id, host_id, agent_id, plan_id, vm_id, operation_id, operation_type, state, error_code, \
        error_message, updated_at, started_at, completed_at
        """
    /// From `execution_logs l` left-joined with `executions e` (the plan of an execution's line).
    static let executionLog = """
        l.id, l.tenant_id, l.execution_id, COALESCE(l.plan_id, e.plan_id) AS plan_id, l.sequence, l.severity, l.message, l.emitted_at, \
        l.ingested_at
        """

    /// The host columns of `listHosts`, from `hosts h` left-joined with `agents a`.
    static let host = """
        h.id, h.tenant_id, h.site_id, h.hostname, h.cpu_cores_total, h.memory_bytes_total, h.storage_bytes_total, \
        h.kvm_available, h.cloud_hypervisor_available, h.last_facts_at, h.netbird_connected, h.netbird_state, \
        h.netbird_reason, h.netbird_peer_id, h.netbird_ipv4, h.netbird_management_url, h.netbird_network_id, \
        h.netbird_fqdn, h.netbird_management_connected, h.netbird_signal_connected, h.netbird_peers_connected, \
        h.netbird_peers_total, h.netbird_updated_at, h.os_hostname, h.hypervisors, h.hypervisor, a.state AS agent_state, \
        a.last_heartbeat_at AS agent_last_heartbeat_at
        """
}

extension Tenant {
    init(row: SQLRow) throws(StoreError) {
        self.init(
            id: try row.text("id"),
            slug: try row.text("slug"),
            name: try row.text("name"),
            primaryRegion: try row.text("primary_region"),
            dataRetentionDays: try row.int32("data_retention_days"),
            createdAt: try row.timestamp("created_at"),
            updatedAt: try row.timestamp("updated_at")
        )
    }
}

extension Site {
    init(row: SQLRow) throws(StoreError) {
        self.init(
            id: try row.text("id"),
            tenantId: try row.text("tenant_id"),
            name: try row.text("name"),
            externalKey: try row.optionalText("external_key"),
            locationCountryCode: try row.optionalText("location_country_code"),
            connectivityState: try row.stored("connectivity_state"),
            lastHeartbeatAt: try row.timestamp("last_heartbeat_at"),
            createdAt: try row.timestamp("created_at")
        )
    }
}

extension APIKeyRecord {
    init(row: SQLRow) throws(StoreError) {
        self.init(
            id: try row.text("id"),
            tenantID: try row.text("tenant_id"),
            name: try row.text("name"),
            expiresAt: try row.optionalDate("expires_at")
        )
    }
}

extension APIKey {
    /// A row of `StoreColumns.apiKeyListing`.
    init(row: SQLRow) throws(StoreError) {
        self.init(
            id: try row.text("id"),
            tenantId: try row.text("tenant_id"),
            name: try row.text("name"),
            createdAt: try row.timestamp("created_at"),
            expiresAt: try row.timestamp("expires_at"),
            revokedAt: try row.timestamp("revoked_at")
        )
    }
}

extension Plan {
    /// A row of `StoreColumns.plan`, with the plan's executions in action order.
    init(row: SQLRow, executions: [Execution]) throws(StoreError) {
        self.init(
            id: try row.text("id"),
            tenantId: try row.text("tenant_id"),
            siteId: try row.text("site_id"),
            version: try row.int64("plan_version"),
            status: try row.stored("status"),
            idempotencyKey: try row.text("idempotency_key"),
            createdAt: try row.timestamp("created_at"),
            updatedAt: try row.timestamp("updated_at"),
            startedAt: try row.timestamp("started_at"),
            completedAt: try row.timestamp("completed_at"),
            executions: executions
        )
    }
}

extension AuditEvent {
    /// A row of `StoreColumns.auditEvent` (of a tenant's event: `tenant_id` is set).
    init(row: SQLRow) throws(StoreError) {
        self.init(
            id: try row.int64("id"),
            tenantId: try row.optionalText("tenant_id") ?? "",
            siteId: try row.optionalText("site_id"),
            actorType: try row.stored("actor_type"),
            actorId: try row.optionalText("actor_id"),
            action: try row.text("action"),
            resourceType: try row.text("resource_type"),
            resourceId: try row.text("resource_id"),
            requestId: try row.optionalText("request_id"),
            sourceIp: try row.optionalText("source_ip"),
            metadataJson: try row.text("metadata_json"),
            occurredAt: try row.timestamp("occurred_at")
        )
    }
}

extension AgentRecord {
    init(row: SQLRow) throws(StoreError) {
        self.init(
            id: try row.text("id"),
            tenantID: try row.text("tenant_id"),
            siteID: try row.text("site_id"),
            hostID: try row.text("host_id"),
            certificateSerial: try row.text("cert_serial"),
            certificateExpiresAt: try row.date("cert_expires_at"),
            refreshTokenHash: try row.text("refresh_token_hash"),
            state: try row.stored("state"),
            heartbeatSeq: try row.int64("heartbeat_seq"),
            lastHeartbeatAt: try row.optionalDate("last_heartbeat_at"),
            previousCertificateSerial: try row.optionalText("previous_cert_serial"),
            previousCredentialsExpireAt: try row.optionalDate("previous_credentials_expire_at"),
            retiredAt: try row.optionalDate("retired_at")
        )
    }
}

extension NKudoContract.Host {
    /// A row of `StoreColumns.host`: the agent's state is OFFLINE when the host has none,
    /// `netbird` is omitted when the host never reported it.
    init(row: SQLRow) throws(StoreError) {
        let agentState: NKudoContract.Host.AgentState =
            row["agent_state"] == .null ? .offline : try row.stored("agent_state")
        var netbird: NetbirdStatus?
        if try row.optionalInt64("netbird_updated_at") != nil {
            netbird = NetbirdStatus(
                connected: try row.flag("netbird_connected"),
                state: try row.stored("netbird_state"),
                reason: try row.text("netbird_reason"),
                peerId: try row.optionalText("netbird_peer_id"),
                ipv4: try row.optionalText("netbird_ipv4"),
                managementUrl: try row.optionalText("netbird_management_url"),
                networkId: try row.optionalText("netbird_network_id"),
                peersConnected: try row.int32("netbird_peers_connected"),
                peersTotal: try row.int32("netbird_peers_total"),
                managementConnected: try row.flag("netbird_management_connected"),
                signalConnected: try row.flag("netbird_signal_connected"),
                fqdn: try row.optionalText("netbird_fqdn")
            )
        }
        self.init(
            id: try row.text("id"),
            tenantId: try row.text("tenant_id"),
            siteId: try row.text("site_id"),
            hostname: try row.text("hostname"),
            cpuCoresTotal: try row.int32("cpu_cores_total"),
            memoryBytesTotal: try row.int64("memory_bytes_total"),
            storageBytesTotal: try row.int64("storage_bytes_total"),
            kvmAvailable: try row.flag("kvm_available"),
            cloudHypervisorAvailable: try row.flag("cloud_hypervisor_available"),
            lastFactsAt: try row.timestamp("last_facts_at"),
            agentState: agentState,
            agentLastHeartbeatAt: try row.timestamp("agent_last_heartbeat_at"),
            netbird: netbird,
            osHostname: try row.optionalText("os_hostname") ?? "",
            hypervisors: try row.text("hypervisors").split(separator: ",").map(String.init),
            hypervisor: try row.text("hypervisor")
        )
    }
}

extension MicroVM {
    /// A row of `StoreColumns.microVM`; `host_id` is `""` while no host is assigned.
    init(row: SQLRow) throws(StoreError) {
        self.init(
            id: try row.text("id"),
            tenantId: try row.text("tenant_id"),
            siteId: try row.text("site_id"),
            hostId: try row.optionalText("host_id") ?? "",
            name: try row.text("name"),
            state: try row.stored("state"),
            vcpuCount: try row.int32("vcpu_count"),
            memoryMib: try row.int64("memory_mib"),
            lastTransitionAt: try row.timestamp("last_transition_at"),
            updatedAt: try row.timestamp("updated_at"),
            stateReason: try row.text("state_reason"),
            hypervisor: try row.text("hypervisor"),
            image: try row.text("image"),
            kernel: try row.text("kernel"),
            initrd: try row.text("initrd")
        )
    }
}

extension Execution {
    init(row: SQLRow) throws(StoreError) {
        self.init(
            id: try row.text("id"),
            tenantId: try row.text("tenant_id"),
            siteId: try row.text("site_id"),
            hostId: try row.optionalText("host_id"),
            agentId: try row.optionalText("agent_id"),
            planId: try row.text("plan_id"),
            vmId: try row.optionalText("vm_id"),
            operationId: try row.text("operation_id"),
            operationType: try row.stored("operation_type"),
            state: try row.stored("state"),
            errorCode: try row.optionalText("error_code"),
            errorMessage: try row.optionalText("error_message"),
            updatedAt: try row.timestamp("updated_at"),
            startedAt: try row.timestamp("started_at"),
            completedAt: try row.timestamp("completed_at")
        )
    }
}

extension ExecutionLog {
    init(row: SQLRow) throws(StoreError) {
        self.init(
            id: try row.int64("id"),
            tenantId: try row.text("tenant_id"),
            executionId: try row.optionalText("execution_id") ?? "",
            sequence: try row.int64("sequence"),
            severity: try row.stored("severity"),
            message: try row.text("message"),
            emittedAt: try row.timestamp("emitted_at"),
            ingestedAt: try row.timestamp("ingested_at"),
            planId: try row.optionalText("plan_id") ?? ""
        )
    }
}
