/// Settings of ``EdgeAgent``'s run loop.
public struct EdgeAgentConfiguration: Sendable {
    /// Interval until the control plane sends its own (clamped to
    /// ``HeartbeatSchedule/intervalBounds``).
    public var heartbeatInterval: Duration = .seconds(15)
    /// How long one long poll for plans (`NextPlans` with a wait) lasts; zero: plans come
    /// with heartbeats only.
    public var planWait: Duration = .seconds(30)
    /// Upper bound of the backoff while the control plane is unreachable.
    public var maximumBackoff: Duration = .seconds(60)
    /// Log lines per `IngestLogs` request.
    public var outboxBatchSize: Int = 200
    /// Reported as `agent_version`.
    public var agentVersion: String
    /// Reported as `hostname`.
    public var hostname: String
    /// The Cloud Hypervisor binary, for `cloud_hypervisor_available`.
    public var cloudHypervisorBinary: String = "cloud-hypervisor"

    /// The defaults for an agent of `agentVersion` on `hostname`.
    public init(agentVersion: String, hostname: String) {
        self.agentVersion = agentVersion
        self.hostname = hostname
    }
}
