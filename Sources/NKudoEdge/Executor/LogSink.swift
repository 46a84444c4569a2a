public import Foundation

/// Severity of an execution log line (the contract's log levels).
public enum LogSeverity: String, Sendable, Hashable {
    /// Diagnostic detail.
    case debug = "DEBUG"
    /// Normal progress.
    case info = "INFO"
    /// Something went wrong but execution continues.
    case warn = "WARN"
    /// An action or plan failed.
    case error = "ERROR"
}

/// One log line of a plan execution, as shipped to the control plane.
public struct ExecutionLogEntry: Sendable, Hashable {
    /// Execution id: the action's, or the plan-level one for plan lines.
    public var executionID: String
    /// Action id; nil for plan-level lines.
    public var actionID: String?
    /// Severity.
    public var severity: LogSeverity
    /// The text.
    public var message: String
    /// When the line was produced.
    public var timestamp: Date
    /// The fencing token of the plan's lease the line was written under (0: none).
    public var leaseToken: Int64

    /// A log line.
    public init(executionID: String, actionID: String?, severity: LogSeverity, message: String, timestamp: Date = Date(), leaseToken: Int64 = 0) {
        self.executionID = executionID
        self.actionID = actionID
        self.severity = severity
        self.message = message
        self.timestamp = timestamp
        self.leaseToken = leaseToken
    }
}

/// Where the executor's per-execution log lines go (e.g. an outbox shipped to
/// `POST /v1/logs`). Must not throw: a sink that cannot store a line drops it.
public protocol LogSink: Sendable {
    /// Takes one line.
    func emit(_ entry: ExecutionLogEntry) async
}
