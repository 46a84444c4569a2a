public import Prometheus

/// Request metrics in Prometheus form: counts and latency by route and status.
public struct HTTPMetrics: Sendable {
    let registry: PrometheusCollectorRegistry

    /// Metrics recorded into `registry`.
    public init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    static var requests: MetricNameDescriptor { MetricNameDescriptor(namespace: "nkudo", subsystem: "http", metricName: "requests", unitName: "total",
                                                helpText: "HTTP requests by route and status") }
    static var latency: MetricNameDescriptor { MetricNameDescriptor(namespace: "nkudo", subsystem: "http", metricName: "request_duration", unitName: "seconds",
                                               helpText: "HTTP request latency by route") }

    func record(route: String, status: Int, duration: Duration) {
        let labels = [("route", route), ("status", String(status))]
        registry.makeCounter(descriptor: Self.requests, labels: labels).increment()
        registry.makeDurationHistogram(
            descriptor: Self.latency, labels: [("route", route)],
            buckets: [.milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
                      .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(5)]
        ).record(duration)
    }
}
