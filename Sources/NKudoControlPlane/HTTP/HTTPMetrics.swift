public import Prometheus
import Synchronization

/// Request metrics in Prometheus form: counts and latency by route and status.
public struct HTTPMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    private let handles = Handles()

    /// Metrics recorded into `registry`.
    public init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    static var requests: MetricNameDescriptor { MetricNameDescriptor(namespace: "nkudo", subsystem: "http", metricName: "requests", unitName: "total",
                                                helpText: "HTTP requests by route and status") }
    static var latency: MetricNameDescriptor { MetricNameDescriptor(namespace: "nkudo", subsystem: "http", metricName: "request_duration", unitName: "seconds",
                                               helpText: "HTTP request latency by route") }

    func record(route: String, status: Int, duration: Duration) {
        let key = Handles.Key(route: route, status: status)
        let (counter, histogram) = handles.metrics.withLock { $0[key] } ?? makeHandles(key)
        counter.increment()
        histogram.record(duration)
    }

    /// The counter and histogram of a route and status, made once: the registry builds
    /// the metric's name and looks its labels up on every `make…` call, ~1 % of the
    /// control plane's CPU per heartbeat when that ran per request (README, Performance).
    /// Routes and statuses are finite (the contract's routes, the plain endpoints,
    /// "unmatched"), so this cache is too.
    private func makeHandles(_ key: Handles.Key) -> (Counter, DurationHistogram) {
        let made = (
            registry.makeCounter(descriptor: Self.requests, labels: [("route", key.route), ("status", String(key.status))]),
            registry.makeDurationHistogram(
                descriptor: Self.latency, labels: [("route", key.route)],
                buckets: [.milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
                          .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(5)]
            )
        )
        handles.metrics.withLock { $0[key] = made }
        return made
    }

    /// The metrics made so far, by route and status.
    private final class Handles: Sendable {
        struct Key: Hashable {
            let route: String
            let status: Int
        }

        let metrics = Mutex<[Key: (Counter, DurationHistogram)]>([:])
    }
}
