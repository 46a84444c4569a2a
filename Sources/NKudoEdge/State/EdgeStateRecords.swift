public import Foundation

/// Snapshot of one microVM (reference §4.3), also the heartbeat's `microvms[]` source.
public struct MicroVMRecord: Sendable, Hashable, Codable {
    /// VM id; never empty.
    public var id: String
    /// VM name from the provider spec.
    public var name: String
    /// Kernel image path, empty when the VM boots firmware.
    public var kernelPath: String
    /// Path of the VM's own (cloned) disk.
    public var rootfsPath: String
    /// TAP device name.
    public var tapIface: String
    /// Cloud Hypervisor PID, 0 when not running.
    public var chPID: Int
    /// Upper-case provider status: `CREATED`, `RUNNING`, `STOPPED`.
    public var status: String
    /// When the provider last changed the VM.
    public var updatedAt: Date

    /// Creates a record.
    public init(
        id: String,
        name: String = "",
        kernelPath: String = "",
        rootfsPath: String = "",
        tapIface: String = "",
        chPID: Int = 0,
        status: String,
        updatedAt: Date = Date()
    ) {
        self.id = id
        self.name = name
        self.kernelPath = kernelPath
        self.rootfsPath = rootfsPath
        self.tapIface = tapIface
        self.chPID = chPID
        self.status = status
        self.updatedAt = updatedAt
    }

    enum CodingKeys: String, CodingKey {
        case id
        case name
        case kernelPath = "kernel_path"
        case rootfsPath = "rootfs_path"
        case tapIface = "tap_iface"
        case chPID = "ch_pid"
        case status
        case updatedAt = "updated_at"
    }
}

/// One entry of the action ledger, keyed by plan and action id, so an action is never
/// run twice within a plan and an interrupted one (`started` without outcome) is visible
/// after a restart.
public struct LedgerEntry: Sendable, Hashable, Codable {
    /// Progress of the action.
    public enum State: String, Sendable, Hashable, Codable {
        /// Execution began; no outcome was recorded (still running, or interrupted).
        case started
        /// The action succeeded.
        case succeeded
        /// The action failed.
        case failed
    }

    /// Plan the action belongs to.
    public var planID: String
    /// Action id within the plan.
    public var actionID: String
    /// Progress.
    public var state: State
    /// Execution in which the action ran (last start or outcome).
    public var executionID: String
    /// Error code of a failure; `nil` otherwise.
    public var errorCode: String?
    /// Outcome message (empty while started).
    public var message: String
    /// When execution began.
    public var startedAt: Date
    /// When the outcome was recorded; `nil` while started.
    public var finishedAt: Date?

    /// Creates an entry.
    public init(
        planID: String,
        actionID: String,
        state: State,
        executionID: String,
        errorCode: String? = nil,
        message: String = "",
        startedAt: Date,
        finishedAt: Date? = nil
    ) {
        self.planID = planID
        self.actionID = actionID
        self.state = state
        self.executionID = executionID
        self.errorCode = errorCode
        self.message = message
        self.startedAt = startedAt
        self.finishedAt = finishedAt
    }

    enum CodingKeys: String, CodingKey {
        case planID = "plan_id"
        case actionID = "action_id"
        case state
        case executionID = "execution_id"
        case errorCode = "error_code"
        case message
        case startedAt = "started_at"
        case finishedAt = "finished_at"
    }
}

/// What an outbox message is; open set of values.
public struct OutboxKind: Sendable, Hashable, Codable, RawRepresentable, CustomStringConvertible {
    /// The stored string.
    public let rawValue: String

    /// Creates a kind from its stored string.
    public init(rawValue: String) {
        self.rawValue = rawValue
    }

    public init(from decoder: any Decoder) throws {
        rawValue = try decoder.singleValueContainer().decode(String.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    public var description: String { rawValue }

    /// A plan's action results (`POST /v1/executions/result` body).
    public static let actionResult = OutboxKind(rawValue: "action_result")
    /// A log line (`POST /v1/logs` frame).
    public static let logLine = OutboxKind(rawValue: "log_line")
}

/// A message waiting to be delivered to the control plane.
public struct OutboxEntry: Sendable, Hashable, Codable {
    /// Unique id (assigned by the store), used to acknowledge delivery.
    public var id: String
    /// What the payload is.
    public var kind: OutboxKind
    /// The message as the contract's canonical JSON text.
    public var payload: String
    /// When it was enqueued.
    public var enqueuedAt: Date

    /// Creates an entry.
    public init(id: String, kind: OutboxKind, payload: String, enqueuedAt: Date) {
        self.id = id
        self.kind = kind
        self.payload = payload
        self.enqueuedAt = enqueuedAt
    }

    enum CodingKeys: String, CodingKey {
        case id
        case kind
        case payload
        case enqueuedAt = "enqueued_at"
    }
}

/// The whole content of `edge-state.json`, the state file of releases before the state
/// database (``LegacyStateImport``).
struct EdgeStateDocument: Codable {
    var schemaVersion: Int
    var microvms: [String: MicroVMRecord]
    var ledger: [String: LedgerEntry]
    var outbox: [OutboxEntry]
    /// Heartbeat sequence numbers up to this one may have been sent; nil before the first
    /// heartbeat of an agent that numbers them with a counter (``HeartbeatSequence``).
    var heartbeatSequenceCeiling: Int64?

    init() {
        schemaVersion = LegacyStateImport.schemaVersion
        microvms = [:]
        ledger = [:]
        outbox = []
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        schemaVersion = try container.decode(Int.self, forKey: .schemaVersion)
        microvms = try container.decodeIfPresent([String: MicroVMRecord].self, forKey: .microvms) ?? [:]
        ledger = try container.decodeIfPresent([String: LedgerEntry].self, forKey: .ledger) ?? [:]
        outbox = try container.decodeIfPresent([OutboxEntry].self, forKey: .outbox) ?? []
        heartbeatSequenceCeiling = try container.decodeIfPresent(Int64.self, forKey: .heartbeatSequenceCeiling)
    }

    enum CodingKeys: String, CodingKey {
        case schemaVersion = "schema_version"
        case microvms
        case ledger
        case outbox
        case heartbeatSequenceCeiling = "heartbeat_sequence_ceiling"
    }

    /// Only the version, decoded first so a newer file is refused before its body is
    /// interpreted.
    struct Version: Decodable {
        var schemaVersion: Int

        enum CodingKeys: String, CodingKey {
            case schemaVersion = "schema_version"
        }
    }
}
