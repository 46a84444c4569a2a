import ArgumentParser
import Foundation
import Histogram
import NIOCore
import NIOSSL
import NKudoContract
import NKudoPKI
import Synchronization

/// Simulates a fleet of edge agents against a running control plane and reports what it
/// sustains (see README, "Performance").
@main
struct LoadgenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nkudo-loadgen",
        abstract: "Enrolls simulated agents through the real API and drives heartbeats (and plans) at a control plane.")

    @Option(help: "Control-plane base URL.") var url = "https://127.0.0.1:8443"
    @Option(help: "CA certificate (PEM) that issued the server certificate: $NKUDO_DATA_DIR/pki/ca.crt.") var caFile: String
    @Option(help: "Admin key (default: $ADMIN_KEY).") var adminKey: String?
    @Option(help: "Simulated agents, each with its own key, certificate and connection.") var agents = 100
    @Option(help: "Sites the agents are spread over (one tenant).") var sites = 1
    @Option(help: "MicroVMs reported in each heartbeat.") var vms = 10
    @Option(help: "Wire format: binary or json.") var format = "binary"
    @Option(help: "Protocol of the agents: rest (the REST routes over HTTP/1.1), connect (the Connect paths over HTTP/1.1) or grpc (HTTP/2, binary); one connection per agent.")
    var transport: LoadProtocol = .rest
    @Option(help: "Aggregate heartbeat rates per second, one measured step each (comma-separated); 0 = as fast as the agents can (one request in flight per agent).")
    var rate = "0"
    @Option(help: "Seconds of warm-up before each step (connections, caches).") var warmup = 5.0
    @Option(help: "Measured seconds per step.") var duration = 20.0
    @Option(help: "Share of heartbeats that carry an execution update.") var updateRatio = 0.05
    @Option(help: "Plans to apply and complete through the agents after the steps (0: none).") var plans = 0
    @Option(help: "Aggregate heartbeat rate while plans run.") var planRate = 100.0
    @Option(help: "Each agent's heartbeat interval while plans run, in seconds, as a real fleet's (15: nkudo-edge's default); replaces --plan-rate.")
    var planInterval: Double?
    @Option(help: "Long poll for plans each agent keeps open while plans run, in seconds, as nkudo-edge run --plan-wait (0: plans come with heartbeats only).")
    var planWait = 30.0
    @Option(help: "Control-plane pid, to report its CPU and memory from /proc.") var serverPid: Int32?
    @Option(help: "The database's own ceiling measured beside (pgbench TPS; scripts/loadgen passes it): the report gives the sustained rate as a ratio to it.")
    var referenceTps: Double?
    @Option(help: "Fleet file: reused when present (same server), written after enrolling.") var fleetFile: String?
    @Option(help: "Parallel enrollments.") var enrollConcurrency = 16
    @Option(help: "Per-request timeout in seconds.") var timeout = 10
    @Flag(help: "Print the report as JSON on stdout (the table goes to stderr).") var json = false
    @Option(help: "Write one heartbeat as sent, binary and JSON, to PATH.bin and PATH.json.") var dumpHeartbeat: String?

    func validate() throws {
        guard ["binary", "json"].contains(format) else { throw ValidationError("--format must be binary or json") }
        guard transport != .grpc || format == "binary" else { throw ValidationError("--transport grpc sends binary protobuf: leave --format binary") }
        guard agents > 0, sites > 0, sites <= agents else { throw ValidationError("need agents ≥ sites ≥ 1") }
        guard planWait >= 0, planWait <= 60 else { throw ValidationError("--plan-wait: 0 to 60 seconds") }
        guard planInterval.map({ $0 > 0 }) ?? true else { throw ValidationError("--plan-interval must be positive") }
        guard rates != nil else { throw ValidationError("--rate: comma-separated numbers") }
        guard URLComponents(string: url)?.host != nil else { throw ValidationError("--url: https://host:port") }
    }

    /// The wire the report names: the format over REST, `grpc`, or `connect-<format>`.
    private var reportedFormat: String {
        switch transport {
        case .rest: format
        case .connect: "connect-\(format)"
        case .grpc: "grpc"
        }
    }

    private var rates: [Double]? {
        let values = rate.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
        return values.contains(nil) ? nil : values.compactMap { $0 }
    }

    func run() async throws {
        let wireFormat: WireFormat = format == "json" ? .json : .binary
        let components = URLComponents(string: url)!
        let host = components.host!
        let port = components.port ?? 443
        let caPEM = try String(contentsOfFile: caFile, encoding: .utf8)
        let fleet = FleetBuilder(host: host, port: port, caPEM: caPEM, format: wireFormat, timeout: .seconds(Int64(timeout)))

        // Enrolment (or the fleet file of an earlier run against the same server).
        var enrollSeconds: Double?
        let setup: FleetFile
        if let fleetFile, let data = FileManager.default.contents(atPath: fleetFile),
           let stored = try? JSONDecoder().decode(FleetFile.self, from: data), stored.url == url, stored.agents.count >= agents {
            setup = stored
            log("fleet: \(stored.agents.count) agents from \(fleetFile)")
        } else {
            guard let key = adminKey ?? ProcessInfo.processInfo.environment["ADMIN_KEY"] else {
                throw ValidationError("--admin-key or ADMIN_KEY is needed to enroll")
            }
            let started = ContinuousClock.now
            setup = try await fleet.enroll(url: url, adminKey: key, agents: agents, sites: sites, concurrency: enrollConcurrency)
            enrollSeconds = (ContinuousClock.now - started).seconds
            log(String(format: "fleet: enrolled %d agents in %.1f s", agents, enrollSeconds!))
            if let fleetFile {
                try JSONEncoder().encode(setup).write(to: URL(fileURLWithPath: fleetFile))
            }
        }
        let simulated = try setup.agents.prefix(agents).map {
            try SimulatedAgent(identity: $0, format: wireFormat, vms: vms, host: host, port: port, caPEM: caPEM, timeout: .seconds(Int64(timeout)),
                               over: transport, planWait: plans > 0 ? .milliseconds(Int64(planWait * 1000)) : .zero)
        }
        // Every agent's connection up front, 32 handshakes at a time, so that no step pays
        // for a storm of first handshakes (the agents of a real fleet connect over minutes).
        let connectStart = ContinuousClock.now
        // (gRPC connections open with the first heartbeat, below.)
        let failedConnects = transport == .grpc ? 0 : await Self.forEach(of: simulated) { agent in try await agent.connection.open() }
        log(String(format: "connected %d agents in %.1f s (%d failed)", simulated.count, (ContinuousClock.now - connectStart).seconds,
                   failedConnects))
        // Every agent's first heartbeat up front: it reports the agent's VMs for the first
        // time (inserts and audit events), which a real fleet does once, at enrollment, not
        // in the steady state the steps measure.
        let primeStart = ContinuousClock.now
        let failedPrimes = await Self.forEach(of: simulated) { agent in
            _ = try await agent.sendHeartbeat(sequence: Int64(Date().timeIntervalSince1970 * 1000) - 1, update: nil)
        }
        log(String(format: "first heartbeat of %d agents in %.1f s (%d failed)", simulated.count, (ContinuousClock.now - primeStart).seconds,
                   failedPrimes))
        var bytes: [String: Int] = [:]
        let sample = SimulatedAgent.heartbeat(setup.agents[0], vms: vms)
        bytes["binary"] = try sample.serializedBytes().count
        bytes["json"] = try sample.jsonBytes().count
        if let dumpHeartbeat {
            try Data(try sample.serializedBytes()).write(to: URL(fileURLWithPath: dumpHeartbeat + ".bin"))
            try Data(try sample.jsonBytes()).write(to: URL(fileURLWithPath: dumpHeartbeat + ".json"))
        }

        // Heartbeat steps.
        let recorder = Recorder()
        var steps: [StepReport] = []
        for target in rates! where duration > 0 {
            let step = try await runStep(agents: simulated, target: target > 0 ? target : nil, recorder: recorder, planTracker: nil)
            steps.append(step)
        }
        // Plans.
        var planReport: PlanReport?
        if plans > 0 {
            planReport = try await runPlans(agents: simulated, setup: setup, fleet: fleet, recorder: recorder)
        }
        let sustained = steps.filter(\.sustained).map(\.throughput).max()
        let report = RunReport(
            date: ISO8601DateFormatter().string(from: Date()), url: url, format: reportedFormat, agents: agents, enrollSeconds: enrollSeconds,
            heartbeatBytes: bytes, steps: steps, maxSustainedRate: sustained, referenceTPS: referenceTps, plans: planReport,
            serverPeakRSSMiB: serverPid.flatMap(ProcessSample.read(pid:)).map { Double($0.peakRSSBytes) / 1_048_576 })
        for agent in simulated { await agent.connection.close() }
        if json {
            log(Table.render(report))
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print(Table.render(report))
        }
    }

    /// Runs `body` for every agent, 32 at a time; returns how many failed.
    private static func forEach(of agents: [SimulatedAgent], _ body: @escaping @Sendable (SimulatedAgent) async throws -> Void) async -> Int {
        let next = Locked(0)
        let failed = Locked(0)
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<min(32, agents.count) {
                group.addTask {
                    while true {
                        let index: Int = next.withLock { value in defer { value += 1 }; return value }
                        guard index < agents.count else { return }
                        do { try await body(agents[index]) } catch { failed.withLock { $0 += 1 } }
                    }
                }
            }
        }
        return failed.withLock { $0 }
    }

    // MARK: Heartbeats

    /// Warm-up, then a measured window; each agent heartbeats on its own schedule (period
    /// agents/rate, phases spread evenly), or back to back when there is no target. A
    /// latency runs from the heartbeat's scheduled time, so a server that falls behind
    /// shows it (no coordinated omission).
    private func runStep(agents: [SimulatedAgent], target: Double?, recorder: Recorder, planTracker: PlanTracker?,
                         until stop: (@Sendable () -> Bool)? = nil) async throws -> StepReport {
        let warmup = Duration.milliseconds(Int64(self.warmup * 1000))
        let measured = Duration.milliseconds(Int64(duration * 1000))
        let start = ContinuousClock.now
        let measureFrom = start + warmup
        let end = stop == nil ? measureFrom + measured : start + .seconds(3600)
        let period = target.map { Duration.nanoseconds(Int64(Double(agents.count) / $0 * 1e9)) }
        let updateRatio = self.updateRatio
        if stop == nil {
            log("step: \(target.map { String(format: "%.0f heartbeats/s", $0) } ?? "as fast as possible") with \(agents.count) agents, "
                + String(format: "%.0f s warm-up + %.0f s", self.warmup, duration))
        }
        let progress = Task {
            var last = ContinuousClock.now
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                let (interval, lastError) = recorder.takeInterval()
                let now = ContinuousClock.now
                let seconds = (now - last).seconds
                last = now
                let p99 = interval.histogram.totalCount > 0 ? String(format: "%.1f", Double(interval.histogram.valueAtPercentile(99)) / 1000) : "-"
                let errors = interval.errors.values.reduce(0, +)
                let phase = now < measureFrom ? "warm-up" : "measure"
                log(String(format: "  %@ %5.1fs  %6.0f hb/s  p99 %@ ms  errors %d", phase, (now - start).seconds,
                           Double(interval.ok) / seconds, p99, errors) + (lastError.map { "  last error: \($0.prefix(160))" } ?? ""))
            }
        }
        defer { progress.cancel() }
        var measureStartSample: (ProcessSample?, ProcessSample)?
        var connectsAtStart = 0
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, agent) in agents.enumerated() {
                group.addTask {
                    var sequence = Int64(Date().timeIntervalSince1970 * 1000)
                    var k: Int64 = 0
                    let phase = period.map { $0 * Double(index) / Double(agents.count) } ?? .zero
                    while true {
                        let scheduled = period.map { start + phase + $0 * k } ?? ContinuousClock.now
                        if scheduled >= end || stop?() == true { return }
                        // Overloaded: heartbeats still owed two seconds after the end are not
                        // sent but counted, so a step ends on time and shows it fell behind.
                        if ContinuousClock.now > end + .seconds(2) {
                            var owed: Int64 = 0
                            while period.map({ start + phase + $0 * (k + owed) }).map({ $0 < end }) ?? false { owed += 1 }
                            for _ in 0..<owed { recorder.failure(kind: "not sent (behind schedule)", message: "the server fell behind") }
                            return
                        }
                        if scheduled > ContinuousClock.now { try await Task.sleep(until: scheduled) }
                        k += 1
                        sequence += 1
                        let update = Double.random(in: 0..<1) < updateRatio
                            ? HeartbeatRequest.ExecutionUpdate(executionId: UUID().uuidString.lowercased(), state: "IN_PROGRESS") : nil
                        do {
                            let (response, size) = try await agent.sendHeartbeat(sequence: sequence, update: update)
                            let done = ContinuousClock.now
                            recorder.success(latencyMicroseconds: UInt64((done - scheduled).seconds * 1e6), requestBytes: size,
                                             measured: scheduled >= measureFrom || stop != nil)
                            if let planTracker, !response.pendingPlans.isEmpty {
                                await Self.complete(response.pendingPlans, tracker: planTracker, recorder: recorder,
                                                    ingest: { _ = try await agent.client.ingestLogs($0) },
                                                    report: { _ = try await agent.client.reportExecutionResult($0) })
                            }
                        } catch let failure as HTTPSConnection.Failure {
                            recorder.failure(kind: failure.kind, message: failure.message)
                        } catch {
                            recorder.failure(kind: "other", message: "\(error)")
                        }
                    }
                }
            }
            // Reset at the start of the measured window (warm-up errors are not counted) and
            // sample the server there.
            if stop == nil {
                try await Task.sleep(until: measureFrom)
                recorder.reset()
            }
            measureStartSample = (serverPid.flatMap(ProcessSample.read(pid:)), ProcessSample.own())
            for agent in agents { connectsAtStart += await agent.connection.connects }
            try await group.waitForAll()
        }
        let total = recorder.total
        var connectsAtEnd = 0
        for agent in agents { connectsAtEnd += await agent.connection.connects }
        let serverEnd = serverPid.flatMap(ProcessSample.read(pid:))
        let ownEnd = ProcessSample.own()
        let window = (ownEnd.at - measureStartSample!.1.at).seconds
        var serverCPU: Double?
        if let first = measureStartSample?.0, let serverEnd { serverCPU = (serverEnd.cpuSeconds - first.cpuSeconds) / window }
        let throughput = Double(total.ok) / window
        let latency = total.histogram.millisecondSummary
        let errorCount = total.errors.values.reduce(0, +)
        let sustained = (latency["p99"] ?? .infinity) < 100 && errorCount == 0 && total.ok > 0 && (target.map { throughput >= 0.98 * $0 } ?? true)
        return StepReport(
            format: reportedFormat, agents: agents.count, vmsPerHeartbeat: vms, targetRate: target, seconds: window, heartbeats: total.ok,
            throughput: throughput, latencyMs: latency, errors: total.errors,
            requestBytesAverage: total.ok > 0 ? Double(total.requestBytes) / Double(total.ok) : 0,
            connectionsOpened: connectsAtEnd - connectsAtStart,
            serverCPUPercent: serverCPU.map { $0 * 100 },
            serverCPUMillisecondsPerHeartbeat: serverCPU.map { total.ok > 0 ? $0 * window * 1000 / Double(total.ok) : 0 },
            serverRSSMiB: serverEnd.map { Double($0.rssBytes) / 1_048_576 }, serverPeakRSSMiB: serverEnd.map { Double($0.peakRSSBytes) / 1_048_576 },
            loadgenCPUPercent: (ownEnd.cpuSeconds - measureStartSample!.1.cpuSeconds) / window * 100, sustained: sustained)
    }

    // MARK: Plans

    /// Applies `plans` single-action plans round-robin over the sites while the agents
    /// heartbeat (at `planRate` in all, or each every `planInterval` seconds) and keep a long
    /// poll for plans open (`planWait`). An agent that gets a plan, by either, ships a log line
    /// of its first action, then reports every action as succeeded. Pickup runs from a plan's
    /// apply request to the accepted log line; the round trip to the accepted result report.
    private func runPlans(agents: [SimulatedAgent], setup: FleetFile, fleet: FleetBuilder, recorder: Recorder) async throws -> PlanReport {
        let tracker = PlanTracker(expected: plans)
        let total = plans
        let siteIDs = setup.siteIds
        let apiKey = setup.apiKey
        let rate = planInterval.map { Double(agents.count) / $0 } ?? planRate
        let wait = Duration.milliseconds(Int64(planWait * 1000))
        log("plans: applying \(total) plans over \(siteIDs.count) sites, \(agents.count) agents heartbeating "
            + String(format: "every %.2f s each", Double(agents.count) / rate)
            + (planWait > 0 ? String(format: ", long polls of %.0f s", planWait) : ", no long polls"))
        recorder.reset()
        let started = ContinuousClock.now
        let applyErrors = Locked<[String: Int]>([:])
        let isDone: @Sendable () -> Bool = { tracker.isDone || ContinuousClock.now - started > .seconds(600) }
        // The agents' long polls, until every plan is done (then their connections close).
        let polls = Task {
            await withTaskGroup(of: Void.self) { group in
                for agent in agents {
                    guard let poller = agent.poller else { continue }
                    group.addTask {
                        while !isDone() {
                            do {
                                let leased = try await poller.nextPlans(wait: wait)
                                await Self.complete(leased, tracker: tracker, recorder: recorder,
                                                    ingest: { try await poller.ingestLogs($0) },
                                                    report: { try await poller.reportExecutionResult($0) })
                            } catch {
                                guard !isDone() else { return }
                                recorder.failure(kind: "poll " + ((error as? HTTPSConnection.Failure)?.kind ?? "other"), message: "\(error)")
                                try? await Task.sleep(for: .seconds(1))
                            }
                        }
                    }
                }
            }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                _ = try await self.runStep(agents: agents, target: rate, recorder: recorder, planTracker: tracker, until: isDone)
            }
            let next = Locked(0)
            for _ in 0..<4 {
                group.addTask {
                    let tenant = fleet.tenantClient(apiKey: apiKey)
                    while true {
                        let index: Int = next.withLock { value in defer { value += 1 }; return value }
                        guard index < total else { return }
                        // Spread over the run as users apply plans, not in one burst.
                        if planInterval != nil { try await Task.sleep(for: .milliseconds(Int64.random(in: 0...400))) }
                        let begun = ContinuousClock.now
                        do {
                            let response = try await tenant.applyPlan(ApplyPlanRequest(
                                siteId: siteIDs[index % siteIDs.count], idempotencyKey: "loadgen-\(UUID().uuidString)",
                                actions: [ApplyPlanRequest.Action(operation: .create, name: "lg-\(index)-\(UUID().uuidString.prefix(8))", vcpuCount: 1, memoryMib: 256)]))
                            tracker.applied(response.planId, at: begun)
                        } catch {
                            let kind = (error as? HTTPSConnection.Failure)?.kind ?? "other"
                            applyErrors.withLock { $0[kind, default: 0] += 1 }
                            tracker.failedToApply()
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        for agent in agents { await agent.poller?.close() }
        await polls.value
        let wall = tracker.lastCompletion.map { ($0 - started).seconds } ?? (ContinuousClock.now - started).seconds
        let histogram = tracker.histogram
        return PlanReport(plans: total, agents: agents.count, completed: Int(histogram.totalCount), wallSeconds: wall,
                          plansPerSecond: Double(histogram.totalCount) / wall, roundTripMs: histogram.millisecondSummary,
                          pickupMs: tracker.pickupHistogram.millisecondSummary, applyErrors: applyErrors.withLock { $0 },
                          heartbeatIntervalPerAgentSeconds: Double(agents.count) / rate, longPollSeconds: planWait)
    }

    /// The agent's part of each leased plan: a log line of its first action (the pickup),
    /// then every action reported as succeeded.
    private static func complete(_ leased: [LeasedPlan], tracker: PlanTracker, recorder: Recorder,
                                 ingest: (IngestLogsRequest) async throws -> Void,
                                 report: (ReportExecutionResultRequest) async throws -> Void) async {
        for plan in leased {
            let now = ProtoTimestamp(date: Date())
            do {
                if let first = plan.actions.first {
                    try await ingest(IngestLogsRequest(entries: [IngestLogsRequest.Entry(
                        executionId: first.executionId, sequence: 1, severity: "INFO", message: "\(first.type) starting", emittedAt: now,
                        actionId: first.actionId, leaseToken: plan.leaseToken)]))
                    tracker.pickedUp(plan.planId)
                }
                let results = plan.actions.map {
                    ReportExecutionResultRequest.ActionResult(executionId: $0.executionId, actionId: $0.actionId, ok: true,
                                                              message: "done", startedAt: now, finishedAt: now)
                }
                try await report(ReportExecutionResultRequest(planId: plan.planId, executionId: plan.executionId, results: results,
                                                              leaseToken: plan.leaseToken))
                tracker.completed(plan.planId)
            } catch {
                recorder.failure(kind: "report " + ((error as? HTTPSConnection.Failure)?.kind ?? "other"), message: "\(error)")
            }
        }
    }
}

/// Apply and completion times of the plans in flight.
final class PlanTracker: Sendable {
    private struct State {
        var applied: [String: ContinuousClock.Instant] = [:]
        var completedEarly: [String: ContinuousClock.Instant] = [:]
        var pickedUpEarly: [String: ContinuousClock.Instant] = [:]
        /// Apply times of plans not picked up yet.
        var awaitingPickup: [String: ContinuousClock.Instant] = [:]
        var pickups = Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: .three)
        var histogram = Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: .three)
        var finished = 0
        var last: ContinuousClock.Instant?
    }

    private let expected: Int
    private let state = Mutex(State())

    init(expected: Int) { self.expected = expected }

    func applied(_ planID: String, at begun: ContinuousClock.Instant) {
        state.withLock {
            if let picked = $0.pickedUpEarly.removeValue(forKey: planID) {
                _ = $0.pickups.record(UInt64(max((picked - begun).seconds * 1e6, 1)))
            } else {
                $0.awaitingPickup[planID] = begun
            }
            if let done = $0.completedEarly.removeValue(forKey: planID) {
                Self.record(&$0, from: begun, to: done)
            } else {
                $0.applied[planID] = begun
            }
        }
    }

    func completed(_ planID: String) {
        let now = ContinuousClock.now
        state.withLock {
            if let begun = $0.applied.removeValue(forKey: planID) {
                Self.record(&$0, from: begun, to: now)
            } else {
                $0.completedEarly[planID] = now
            }
        }
    }

    /// The agent shipped the first log line of the plan.
    func pickedUp(_ planID: String) {
        let now = ContinuousClock.now
        state.withLock {
            if let begun = $0.awaitingPickup.removeValue(forKey: planID) {
                _ = $0.pickups.record(UInt64(max((now - begun).seconds * 1e6, 1)))
            } else {
                $0.pickedUpEarly[planID] = now
            }
        }
    }

    func failedToApply() { state.withLock { $0.finished += 1 } }

    var isDone: Bool { state.withLock { $0.finished >= expected } }
    var histogram: Histogram<UInt64> { state.withLock { $0.histogram } }
    var pickupHistogram: Histogram<UInt64> { state.withLock { $0.pickups } }
    var lastCompletion: ContinuousClock.Instant? { state.withLock { $0.last } }

    private static func record(_ state: inout State, from begun: ContinuousClock.Instant, to done: ContinuousClock.Instant) {
        _ = state.histogram.record(UInt64(max((done - begun).seconds * 1e6, 1)))
        state.finished += 1
        state.last = max(state.last ?? done, done)
    }
}

/// The fleet as enrolled: reused by later runs against the same server.
struct FleetFile: Codable, Sendable {
    var url: String
    var tenantId: String
    var apiKey: String
    var siteIds: [String]
    var agents: [AgentIdentity]
}

/// Creates the tenant, API key and sites, and enrolls agents through the real API.
struct FleetBuilder: Sendable {
    let host: String
    let port: Int
    let caPEM: String
    let format: WireFormat
    let timeout: TimeAmount

    func anonymousConnection() -> HTTPSConnection {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv13
        tls.trustRoots = .certificates((try? NIOSSLCertificate.fromPEMBytes(Array(caPEM.utf8))) ?? [])
        tls.certificateVerification = .noHostnameVerification
        return HTTPSConnection(host: host, port: port, tls: try! NIOSSLContext(configuration: tls), timeout: timeout)
    }

    func tenantClient(apiKey: String) -> TenantServiceClient<LoadTransport> {
        TenantServiceClient(transport: LoadTransport(connection: anonymousConnection(), format: format, headers: [("X-API-Key", apiKey)]))
    }

    func enroll(url: String, adminKey: String, agents: Int, sites: Int, concurrency: Int) async throws -> FleetFile {
        let admin = AdminServiceClient(transport: LoadTransport(connection: anonymousConnection(), format: format, headers: [("X-Admin-Key", adminKey)]))
        let suffix = String(UUID().uuidString.prefix(8)).lowercased()
        let tenant = try await admin.createTenant(CreateTenantRequest(slug: "loadgen-\(suffix)", name: "Load generator \(suffix)"))
        let key = try await admin.createAPIKey(CreateAPIKeyRequest(tenantId: tenant.id, name: "loadgen"))
        let tenantClient = tenantClient(apiKey: key.apiKey)
        var siteIDs: [String] = []
        for index in 0..<sites {
            siteIDs.append(try await tenantClient.createSite(CreateSiteRequest(tenantId: tenant.id, name: "lg-site-\(index)", locationCountryCode: "ch")).id)
        }
        let next = Locked(0)
        let enrolled = Locked<[AgentIdentity?]>(Array(repeating: nil, count: agents))
        let format = self.format
        let ids = siteIDs
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<max(1, concurrency) {
                group.addTask {
                    let connection = self.anonymousConnection()
                    let tenantClient = TenantServiceClient(transport: LoadTransport(connection: connection, format: format, headers: [("X-API-Key", key.apiKey)]))
                    let anonymous = AgentServiceClient(transport: LoadTransport(connection: connection, format: format))
                    while true {
                        let index: Int = next.withLock { value in defer { value += 1 }; return value }
                        guard index < agents else { break }
                        let siteID = ids[index % ids.count]
                        let hostname = "lg-\(suffix)-\(index)"
                        let token = try await tenantClient.issueEnrollmentToken(IssueEnrollmentTokenRequest(tenantId: tenant.id, siteId: siteID))
                        let privateKey = try PrivateKey.generateP256()
                        let csr = try CertificateSigningRequest.create(key: privateKey, commonName: "pending-agent")
                        let response = try await anonymous.enroll(EnrollRequest(
                            enrollmentToken: token.token, agentVersion: "0.1.0-loadgen", requestedHostname: hostname, csrPem: try csr.pem()))
                        let identity = AgentIdentity(agentId: response.agentId, tenantId: response.tenantId, siteId: response.siteId,
                                                     hostId: response.hostId, hostname: hostname,
                                                     certificatePEM: response.clientCertificatePem, keyPEM: try privateKey.pkcs8PEM())
                        enrolled.withLock { $0[index] = identity }
                        if (index + 1) % 1000 == 0 { log("  enrolled \(index + 1)/\(agents)") }
                    }
                    await connection.close()
                }
            }
            try await group.waitForAll()
        }
        return FleetFile(url: url, tenantId: tenant.id, apiKey: key.apiKey, siteIds: siteIDs, agents: enrolled.withLock { $0.compactMap { $0 } })
    }
}

func log(_ line: String) {
    try? FileHandle.standardError.write(contentsOf: Data((line + "\n").utf8))
}

extension Duration {
    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}

/// A value shared by concurrent tasks (a `Mutex` in a class, so that closures can capture it).
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<Result: Sendable>(_ body: (inout Value) -> Result) -> Result { mutex.withLock { body(&$0) } }
}
