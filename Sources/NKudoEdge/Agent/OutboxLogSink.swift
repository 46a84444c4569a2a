import Foundation
public import Logging
import NKudoContract
import Synchronization

/// The executor's ``LogSink`` in the agent: every line goes into the persisted outbox as
/// an `IngestLogsRequest.Entry`, so it reaches the control plane across outages and
/// restarts. A line that cannot be stored is logged locally and dropped.
public final class OutboxLogSink: LogSink {
    private let store: EdgeStateStore
    private let logger: Logger
    private let sequence: Mutex<Int64>

    /// A sink writing into `store`'s outbox. Sequence numbers start at the current Unix
    /// time in microseconds, so they keep increasing across restarts.
    public init(store: EdgeStateStore, logger: Logger) {
        self.store = store
        self.logger = logger
        sequence = Mutex(Int64(Date().timeIntervalSince1970 * 1_000_000))
    }

    public func emit(_ entry: ExecutionLogEntry) async {
        let number = sequence.withLock { value in
            value += 1
            return value
        }
        let line = IngestLogsRequest.Entry(
            executionId: entry.executionID, sequence: number, severity: entry.severity.rawValue, message: entry.message,
            emittedAt: ProtoTimestamp(date: entry.timestamp), actionId: entry.actionID ?? "", leaseToken: entry.leaseToken)
        do {
            try await store.enqueue(kind: .logLine, payload: try line.jsonString())
        } catch {
            logger.warning("log line not queued for the control plane", metadata: [EdgeLogKey.error: "\(error)", EdgeLogKey.executionID: "\(entry.executionID)"])
        }
    }
}
