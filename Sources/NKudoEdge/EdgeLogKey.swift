/// The metadata keys of the agent's log messages, in one place: snake_case, one spelling
/// each (the control plane and the store use the same for the same thing).
enum EdgeLogKey {
    /// QEMU's accelerator (`kvm`, `tcg`).
    static let accelerator = "accelerator"
    /// Messages the control plane accepted.
    static let accepted = "accepted"
    /// A plan action's id.
    static let actionID = "action_id"
    /// Actions a plan run executed.
    static let actionsRun = "actions_run"
    /// Whether the certificate was renewed after it expired.
    static let afterExpiry = "after_expiry"
    /// The agent's id.
    static let agentID = "agent_id"
    /// A command line the agent ran.
    static let command = "command"
    /// A control plane's base URL.
    static let controlPlane = "control_plane"
    /// A number of things (the message says of what).
    static let count = "count"
    /// More about an error.
    static let detail = "detail"
    /// A VM's disk image.
    static let disk = "disk"
    /// Messages or lines dropped.
    static let dropped = "dropped"
    /// An error's description.
    static let error = "error"
    /// An execution's id.
    static let executionID = "execution_id"
    /// When a certificate expires.
    static let expiresAt = "expires_at"
    /// Consecutive failures.
    static let failures = "failures"
    /// A file.
    static let file = "file"
    /// An outbox message's kind.
    static let kind = "kind"
    /// Action ledger entries imported.
    static let ledgerEntries = "ledger_entries"
    /// A byte limit.
    static let maxBytes = "max_bytes"
    /// A line limit.
    static let maxLines = "max_lines"
    /// Seconds until the next attempt.
    static let nextSeconds = "next_seconds"
    /// Outbox messages imported.
    static let outboxEntries = "outbox_entries"
    /// A command's output.
    static let output = "output"
    /// A file system path.
    static let path = "path"
    /// A process id.
    static let pid = "pid"
    /// A plan's id.
    static let planID = "plan_id"
    /// A plan's status.
    static let planStatus = "plan_status"
    /// Plans (ids or a count).
    static let plans = "plans"
    /// Why something happened.
    static let reason = "reason"
    /// Time until a retry.
    static let retryIn = "retry_in"
    /// Messages sent.
    static let sent = "sent"
    /// A site's id.
    static let siteID = "site_id"
    /// Messages stored.
    static let stored = "stored"
    /// A TAP interface's name.
    static let tap = "tap"
    /// A VM's id.
    static let vmID = "vm_id"
    /// VMs (ids or a count).
    static let vms = "vms"
}
