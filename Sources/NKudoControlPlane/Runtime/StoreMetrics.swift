import NKudoStore
import NKudoSQL
import Prometheus
import Synchronization

/// Store-derived metrics, refreshed when `/metrics` is scraped: the connection pool, the
/// heartbeat queue, plans by status, agents by state.
struct StoreMetrics: Sendable {
    let store: any Store
    let registry: PrometheusCollectorRegistry
    /// The heartbeat queue's totals as counted into the registry so far.
    private let exported = ExportedTotals()

    init(store: any Store, registry: PrometheusCollectorRegistry) {
        self.store = store
        self.registry = registry
    }

    func refresh() async {
        refreshHeartbeatQueue()
        let pool = store.connectionPool
        for (state, value) in [("open", pool.open), ("in_use", pool.inUse), ("waiting", pool.waiting)] {
            registry.makeGauge(descriptor: MetricNameDescriptor(namespace: "nkudo", subsystem: "store", metricName: "connections", unitName: "",
                                                                helpText: "store connection pool by state"),
                               labels: [("state", state)]).set(Double(value))
        }
        guard let statistics = try? await store.statistics() else { return }
        for status in ["PENDING", "IN_PROGRESS", "SUCCEEDED", "FAILED", "CANCELLED"] {
            registry.makeGauge(descriptor: MetricNameDescriptor(namespace: "nkudo", subsystem: nil, metricName: "plans", unitName: "", helpText: "plans by status"),
                               labels: [("status", status)]).set(Double(statistics.plansByStatus[status] ?? 0))
        }
        for state in ["ONLINE", "DEGRADED", "OFFLINE"] {
            registry.makeGauge(descriptor: MetricNameDescriptor(namespace: "nkudo", subsystem: nil, metricName: "agents", unitName: "", helpText: "agents by state"),
                               labels: [("state", state)]).set(Double(statistics.agentsByState[state] ?? 0))
        }
    }

    /// The heartbeat queue: heartbeats waiting (gauge), transactions it ran, and heartbeats
    /// by what became of them (counters, grown by what happened since the last scrape).
    private func refreshHeartbeatQueue() {
        let queue = store.heartbeatQueue
        registry.makeGauge(descriptor: MetricNameDescriptor(namespace: "nkudo", subsystem: "store", metricName: "heartbeat_queue_waiting",
                                                            unitName: "", helpText: "heartbeats waiting for a transaction shared with others"))
            .set(Double(queue.waiting))
        let since = exported.advance(to: queue)
        registry.makeCounter(descriptor: MetricNameDescriptor(namespace: "nkudo", subsystem: "store", metricName: "heartbeat_queue_transactions",
                                                              unitName: "total", helpText: "transactions the heartbeat queue ran"))
            .increment(by: Int64(since.calls))
        let heartbeats = MetricNameDescriptor(
            namespace: "nkudo", subsystem: "store", metricName: "heartbeat_queue_heartbeats", unitName: "total",
            helpText: "heartbeats submitted to the queue: answered by its transaction, left to one of their own after it, or turned away")
        for (result, count) in [("answered", since.answered), ("left", since.left), ("turned_away", since.turnedAway)] {
            registry.makeCounter(descriptor: heartbeats, labels: [("result", result)]).increment(by: Int64(count))
        }
    }

    /// Totals already counted, so that concurrent scrapes count each event once.
    private final class ExportedTotals: Sendable {
        private let totals = Mutex(BatchingQueueStatistics())

        /// What `current` counts beyond the totals already counted, which become `current`'s;
        /// nothing when `current` is older than them (a scrape that read the queue first and
        /// came here second). The queue's totals only grow and each reading is taken whole,
        /// so of two readings the newer one counts more events, or the same.
        func advance(to current: BatchingQueueStatistics) -> BatchingQueueStatistics {
            totals.withLock { totals in
                var since = BatchingQueueStatistics()
                guard events(current) > events(totals) else { return since }
                since.calls = current.calls - totals.calls
                since.answered = current.answered - totals.answered
                since.left = current.left - totals.left
                since.turnedAway = current.turnedAway - totals.turnedAway
                totals = current
                return since
            }
        }

        private func events(_ statistics: BatchingQueueStatistics) -> Int {
            statistics.calls + statistics.answered + statistics.left + statistics.turnedAway
        }
    }
}
