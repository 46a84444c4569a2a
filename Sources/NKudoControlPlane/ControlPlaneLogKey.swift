/// The metadata keys of the control plane's log messages, in one place: snake_case, one
/// spelling each (the store and the agent use the same for the same thing).
enum ControlPlaneLogKey {
    /// An audit action.
    static let action = "action"
    /// An agent's id.
    static let agentID = "agent_id"
    /// Agents the sweeper marked OFFLINE.
    static let agentsOffline = "agents_offline"
    /// Migrations applied.
    static let applied = "applied"
    /// A number of things (the message says of what).
    static let count = "count"
    /// What the client is not told about an error.
    static let detail = "detail"
    /// Log lines an agent dropped.
    static let dropped = "dropped"
    /// A request's duration in milliseconds.
    static let durationMilliseconds = "duration_ms"
    /// An error's description.
    static let error = "error"
    /// A file.
    static let file = "file"
    /// An HTTP method.
    static let method = "method"
    /// Names (settings, files).
    static let names = "names"
    /// A request path or file path.
    static let path = "path"
    /// A file's mode before it was narrowed.
    static let previousMode = "previous_mode"
    /// The request id (`X-Request-ID`).
    static let requestID = "request_id"
    /// The RPC or endpoint a request matched.
    static let route = "route"
    /// Sites whose connectivity changed.
    static let sitesChanged = "sites_changed"
    /// An HTTP status.
    static let status = "status"
}
