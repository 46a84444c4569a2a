public import Logging
public import NKudoContract

/// Delivers the persisted outbox to the control plane, oldest first: plan results one
/// request each, runs of log lines in one `IngestLogs` batch. An entry leaves the outbox
/// only when the control plane acknowledged it (a 2xx), so nothing is lost across
/// outages and restarts; the control plane deduplicates re-sent results and lines.
///
/// An entry the control plane refuses for good (a 4xx other than 401, 408 and 429, e.g.
/// a plan that no longer exists) or that cannot be decoded is dropped with an error log,
/// so one poisoned entry cannot block everything behind it.
public actor OutboxShipper {
    /// What a flush achieved.
    public enum Outcome: Sendable, Equatable {
        /// The outbox is empty.
        case drained
        /// Delivery stopped at a retryable failure; the rest stays queued.
        case deferred(String)
    }

    private let store: EdgeStateStore
    private let batchSize: Int
    private let logger: Logger
    private var flushing = false

    /// A shipper for `store`'s outbox sending at most `batchSize` log lines per request.
    public init(store: EdgeStateStore, batchSize: Int = 200, logger: Logger) {
        self.store = store
        self.batchSize = max(1, batchSize)
        self.logger = logger
    }

    /// Queues a plan's results; they are on disk when this returns.
    public func enqueue(_ results: ReportExecutionResultRequest) async throws {
        try await store.enqueue(kind: .actionResult, payload: try results.jsonString())
    }

    /// Sends queued entries until the outbox is empty or a retryable failure stops it.
    /// A flush already running in this process makes this call return `.deferred`.
    public func flush(agentID: String, client: AgentServiceClient<ControlPlaneTransport>) async -> Outcome {
        guard !flushing else {
            return .deferred("another flush is running")
        }
        flushing = true
        defer { flushing = false }
        while true {
            let pending: [OutboxEntry]
            do {
                pending = try await store.peek(limit: batchSize)
            } catch {
                logger.error("outbox unreadable", metadata: [EdgeLogKey.error: "\(error)"])
                return .deferred("outbox unreadable: \(error)")
            }
            guard let first = pending.first else {
                return .drained
            }
            let batch = first.kind == .logLine ? Array(pending.prefix { $0.kind == .logLine }) : [first]
            do {
                try await send(batch, agentID: agentID, client: client)
            } catch let failure as ControlPlaneTransport.Failure where Self.isRetryable(failure) {
                return .deferred("\(failure)")
            } catch {
                logger.error("outbox entries refused for good; dropped", metadata: [
                    EdgeLogKey.kind: "\(first.kind)", EdgeLogKey.count: "\(batch.count)", EdgeLogKey.error: "\(error)",
                ])
            }
            do {
                try await store.acknowledge(ids: batch.map(\.id))
            } catch {
                logger.error("outbox acknowledgement not stored; entries will be sent again", metadata: [EdgeLogKey.error: "\(error)"])
                return .deferred("acknowledge: \(error)")
            }
        }
    }

    private func send(_ batch: [OutboxEntry], agentID: String, client: AgentServiceClient<ControlPlaneTransport>) async throws {
        switch batch[0].kind {
        case .actionResult:
            let request = try ReportExecutionResultRequest(jsonString: batch[0].payload)
            let response = try await client.reportExecutionResult(request)
            logger.info("plan results delivered", metadata: [
                EdgeLogKey.executionID: "\(request.executionId)", EdgeLogKey.planStatus: "\(response.planStatus)",
            ])
        case .logLine:
            let entries = try batch.map { try IngestLogsRequest.Entry(jsonString: $0.payload) }
            let response = try await client.ingestLogs(IngestLogsRequest(agentId: agentID, entries: entries))
            logger.debug("log lines delivered", metadata: [
                EdgeLogKey.accepted: "\(response.acceptedFrames)", EdgeLogKey.dropped: "\(response.droppedFrames)",
            ])
        default:
            throw OutboxError(description: "unknown outbox entry kind \(batch[0].kind)")
        }
    }

    private static func isRetryable(_ failure: ControlPlaneTransport.Failure) -> Bool {
        switch failure.status {
        case 0, 401, 408, 429, 500...:
            return true
        default:
            return false
        }
    }
}

/// An outbox entry this agent cannot interpret.
struct OutboxError: Error, CustomStringConvertible {
    let description: String
}
