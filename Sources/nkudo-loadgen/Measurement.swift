import Foundation
import Histogram
import Synchronization

/// Latencies (µs, HdrHistogram), successes and errors by kind, shared by all agent tasks.
final class Recorder: Sendable {
    struct Snapshot: Sendable {
        var histogram = Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: .three)
        var ok = 0
        var errors: [String: Int] = [:]
        var requestBytes = 0
    }

    private struct State {
        var total = Snapshot()
        var interval = Snapshot()
        var lastError: String?
    }

    private let state = Mutex(State())

    /// A heartbeat answered; it counts in the totals when `measured` (the progress line
    /// shows warm-up too).
    func success(latencyMicroseconds: UInt64, requestBytes: Int, measured: Bool) {
        state.withLock {
            _ = $0.interval.histogram.record(max(latencyMicroseconds, 1))
            $0.interval.ok += 1
            guard measured else { return }
            _ = $0.total.histogram.record(max(latencyMicroseconds, 1))
            $0.total.ok += 1
            $0.total.requestBytes += requestBytes
        }
    }

    func failure(kind: String, message: String) {
        state.withLock {
            $0.total.errors[kind, default: 0] += 1
            $0.interval.errors[kind, default: 0] += 1
            $0.lastError = message
        }
    }

    /// Everything since the last `reset()`.
    var total: Snapshot { state.withLock { $0.total } }

    /// Everything since the last call (for the progress line), and the last error message.
    func takeInterval() -> (Snapshot, String?) {
        state.withLock {
            let snapshot = $0.interval
            $0.interval = Snapshot()
            let error = $0.lastError
            $0.lastError = nil
            return (snapshot, error)
        }
    }

    func reset() {
        state.withLock { $0 = State() }
    }
}

/// CPU time and memory of a process, from /proc (Linux).
struct ProcessSample: Sendable {
    var cpuSeconds: Double
    var rssBytes: Int
    var peakRSSBytes: Int
    var at: ContinuousClock.Instant

    static func read(pid: Int32) -> ProcessSample? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        // Fields after "(comm)": state is field 3; utime and stime are fields 14 and 15.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let utime = Double(fields[11]), let stime = Double(fields[12]) else { return nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        func kilobytes(_ key: String) -> Int {
            guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(key + ":") }) else { return 0 }
            return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
        }
        return ProcessSample(cpuSeconds: (utime + stime) / ticks, rssBytes: kilobytes("VmRSS") * 1024,
                             peakRSSBytes: kilobytes("VmHWM") * 1024, at: .now)
    }

    static func own() -> ProcessSample { read(pid: getpid())! }
}

/// The figures of one measured step.
struct StepReport: Codable, Sendable {
    var format: String
    var agents: Int
    var vmsPerHeartbeat: Int
    var targetRate: Double?
    var seconds: Double
    var heartbeats: Int
    var throughput: Double
    var latencyMs: [String: Double]
    var errors: [String: Int]
    var requestBytesAverage: Double
    /// TLS connections opened by the agents during the step (reuse: ideally 0 after warm-up).
    var connectionsOpened: Int
    var serverCPUPercent: Double?
    var serverCPUMillisecondsPerHeartbeat: Double?
    var serverRSSMiB: Double?
    var serverPeakRSSMiB: Double?
    var loadgenCPUPercent: Double
    /// p99 < 100 ms, ≥ 98 % of the target rate (when one was set) and no errors.
    var sustained: Bool
}

/// The plan round trip: apply → every execution terminal (reported by the agents).
struct PlanReport: Codable, Sendable {
    var plans: Int
    var agents: Int
    var completed: Int
    var wallSeconds: Double
    var plansPerSecond: Double
    var roundTripMs: [String: Double]
    /// Apply → the agent's first log line of the plan accepted.
    var pickupMs: [String: Double]
    var applyErrors: [String: Int]
    var heartbeatIntervalPerAgentSeconds: Double
    /// The agents' long poll for plans (0: none).
    var longPollSeconds: Double
}

struct RunReport: Codable, Sendable {
    var date: String
    var url: String
    var format: String
    var agents: Int
    var enrollSeconds: Double?
    var heartbeatBytes: [String: Int]
    var steps: [StepReport]
    var maxSustainedRate: Double?
    /// pgbench's simple-update TPS on the same database server, measured in the same run.
    var referenceTPS: Double?
    var plans: PlanReport?
    var serverPeakRSSMiB: Double?
}

extension Histogram<UInt64> {
    /// p50, p90, p99, p99.9 and max in milliseconds.
    var millisecondSummary: [String: Double] {
        guard totalCount > 0 else { return [:] }
        func ms(_ value: UInt64) -> Double { (Double(value) / 1000 * 100).rounded() / 100 }
        return ["p50": ms(valueAtPercentile(50)), "p90": ms(valueAtPercentile(90)), "p99": ms(valueAtPercentile(99)),
                "p99.9": ms(valueAtPercentile(99.9)), "max": ms(max)]
    }
}

enum Table {
    static func render(_ report: RunReport) -> String {
        var lines: [String] = []
        lines.append("nkudo-loadgen \(report.date) \(report.url) format=\(report.format) agents=\(report.agents)"
                     + (report.enrollSeconds.map { String(format: " enrolled in %.1f s", $0) } ?? ""))
        lines.append("heartbeat body: " + report.heartbeatBytes.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value) B" }.joined(separator: ", "))
        if !report.steps.isEmpty {
            lines.append("")
            lines.append(row(["target/s", "achieved/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors", "CP CPU %", "CP ms/hb", "CP RSS MiB", "LG CPU %", "connects", "ok"]))
            for step in report.steps {
                let errors = step.errors.isEmpty ? "0" : step.errors.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
                lines.append(row([
                    step.targetRate.map { String(format: "%.0f", $0) } ?? "max",
                    String(format: "%.0f", step.throughput),
                    fmt(step.latencyMs["p50"]), fmt(step.latencyMs["p90"]), fmt(step.latencyMs["p99"]), fmt(step.latencyMs["max"]),
                    errors,
                    step.serverCPUPercent.map { String(format: "%.0f", $0) } ?? "-",
                    step.serverCPUMillisecondsPerHeartbeat.map { String(format: "%.3f", $0) } ?? "-",
                    step.serverRSSMiB.map { String(format: "%.0f", $0) } ?? "-",
                    String(format: "%.0f", step.loadgenCPUPercent),
                    String(step.connectionsOpened),
                    step.sustained ? "yes" : "no",
                ]))
            }
            lines.append("max sustained (p99 < 100 ms, ≥ 98 % of target, no errors): "
                         + (report.maxSustainedRate.map { String(format: "%.0f heartbeats/s", $0) } ?? "none"))
            if let reference = report.referenceTPS, reference > 0 {
                lines.append(String(format: "PostgreSQL's own ceiling (pgbench simple-update): %.0f TPS; sustained heartbeats are %@ of it",
                                    reference, report.maxSustainedRate.map { String(format: "%.2f×", $0 / reference) } ?? "none"))
            }
        }
        if let plans = report.plans {
            lines.append("")
            lines.append(String(format: "plan round trip: %d/%d plans over %d agents in %.2f s (%.0f plans/s); per plan p50 %@ ms, p99 %@ ms, max %@ ms; agent heartbeat every %.2f s",
                                plans.completed, plans.plans, plans.agents, plans.wallSeconds, plans.plansPerSecond,
                                fmt(plans.roundTripMs["p50"]), fmt(plans.roundTripMs["p99"]), fmt(plans.roundTripMs["max"]),
                                plans.heartbeatIntervalPerAgentSeconds))
            lines.append(String(format: "plan pickup (apply → the agent's first log line): p50 %@ ms, p90 %@ ms, p99 %@ ms, max %@ ms; %@",
                                fmt(plans.pickupMs["p50"]), fmt(plans.pickupMs["p90"]), fmt(plans.pickupMs["p99"]), fmt(plans.pickupMs["max"]),
                                plans.longPollSeconds > 0 ? String(format: "long polls of %.0f s", plans.longPollSeconds) : "no long polls"))
            if !plans.applyErrors.isEmpty { lines.append("apply errors: \(plans.applyErrors)") }
        }
        if let peak = report.serverPeakRSSMiB { lines.append(String(format: "control plane peak RSS: %.0f MiB", peak)) }
        return lines.joined(separator: "\n")
    }

    private static func fmt(_ value: Double?) -> String { value.map { String(format: "%.1f", $0) } ?? "-" }

    private static func row(_ cells: [String]) -> String {
        cells.enumerated().map { index, cell in
            let width = 10
            return cell.count >= width ? cell + " " : String(repeating: " ", count: width - cell.count) + cell + " "
        }.joined()
    }
}
