import Foundation

/// The metadata of an audit event: a typed value the store encodes as a JSON object
/// (`audit_events.metadata_json`, keys sorted, absent values left out). The keys are part
/// of what operators query and stay stable.
public struct AuditMetadata: Sendable, Hashable, Codable {
    /// `auth.failure`: why the authentication failed.
    public var reason: String?
    /// `auth.failure`: how many failures of this source, RPC and reason the window saw.
    public var count: Int?
    /// `plan.apply`: the request replayed a stored plan.
    public var deduplicated: Bool?
    /// `host.retire`: the host's agent.
    public var agentID: String?
    /// `host.retire`: the plans whose leases were released.
    public var releasedPlans: Int?
    /// `microvm.transition`: the state before (empty when the VM was first reported).
    public var from: String?
    /// `microvm.transition`: the state after.
    public var to: String?
    /// `microvm.transition`: what caused it, when not an agent's report (`host.retire`).
    public var cause: String?
    /// `microvm.transition`: the execution whose outcome moved the VM.
    public var executionID: String?
    /// `microvm.transition`: that execution's plan.
    public var planID: String?
    /// `microvm.transition`: that execution's operation (`CREATE`, …).
    public var operation: String?
    /// `microvm.transition`: the report that moved the VM (`heartbeat`).
    public var source: String?
    /// `microvm.transition` caused by `host.retire`: the retired host.
    public var hostID: String?

    enum CodingKeys: String, CodingKey {
        case reason, count, deduplicated, from, to, cause, operation, source
        case agentID = "agent_id"
        case releasedPlans = "released_plans"
        case executionID = "execution_id"
        case planID = "plan_id"
        case hostID = "host_id"
    }

    /// Metadata with the given values (nil ones are left out).
    public init(reason: String? = nil, count: Int? = nil, deduplicated: Bool? = nil, agentID: String? = nil, releasedPlans: Int? = nil,
                from: String? = nil, to: String? = nil, cause: String? = nil, executionID: String? = nil, planID: String? = nil,
                operation: String? = nil, source: String? = nil, hostID: String? = nil) {
        self.reason = reason
        self.count = count
        self.deduplicated = deduplicated
        self.agentID = agentID
        self.releasedPlans = releasedPlans
        self.from = from
        self.to = to
        self.cause = cause
        self.executionID = executionID
        self.planID = planID
        self.operation = operation
        self.source = source
        self.hostID = hostID
    }

    /// The JSON object stored in `metadata_json`: keys sorted, `{}` when empty.
    public var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(self) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }
}
