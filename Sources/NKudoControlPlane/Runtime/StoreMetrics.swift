import NKudoStore
import NKudoSQL
import Prometheus

/// Store-derived gauges, refreshed when `/metrics` is scraped: plans by status, agents by state.
struct StoreMetrics: Sendable {
    let store: any Store
    let registry: PrometheusCollectorRegistry

    func refresh() async {
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
}
