import Foundation
import Logging
@testable import NKudoEdge
import NKudoContract
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Collects log lines.
actor CollectingLogSink: LogSink {
    private(set) var entries: [ExecutionLogEntry] = []

    func emit(_ entry: ExecutionLogEntry) {
        entries.append(entry)
    }

    var messages: [String] { entries.map(\.message) }
}

/// A provider that records calls, can fail or hang, and keeps VM states in memory.
actor ScriptedProvider: MicroVMProvider {
    var calls: [String] = []
    var failing: Set<String> = []
    var hanging: Set<String> = []
    var states: [VMID: MicroVMState] = [:]

    func configure(failing: Set<String> = [], hanging: Set<String> = []) {
        self.failing = failing
        self.hanging = hanging
    }

    func setState(_ id: VMID, _ status: MicroVMStatus?) {
        states[id] = status.map { MicroVMState(id: id, name: id.rawValue, diskPath: "", tapName: "", pid: 0, status: $0, updatedAt: Date()) }
    }

    private func step(_ name: String, _ id: VMID) async throws(ProviderError) {
        calls.append("\(name) \(id)")
        if hanging.contains(name) {
            do {
                try await Task.sleep(for: .seconds(3600))
            } catch {
                throw ProviderError(.processFailed, "cancelled")
            }
        }
        if failing.contains(name) {
            throw ProviderError(.api, "\(name) exploded")
        }
    }

    func create(_ spec: MicroVMSpec) async throws(ProviderError) -> MicroVMState {
        try await step("create", spec.id)
        setState(spec.id, .created)
        return states[spec.id]!
    }

    func start(_ id: VMID) async throws(ProviderError) -> MicroVMState {
        try await step("start", id)
        setState(id, .running)
        return states[id]!
    }

    nonisolated func catalog() -> ProviderCatalog {
        ProviderCatalog(images: [], kernelArgumentKeys: [], hypervisor: "scripted", installedHypervisors: [], accelerator: "")
    }

    func stop(_ id: VMID, gracePeriod: Double) async throws(ProviderError) -> MicroVMState {
        try await step("stop", id)
        setState(id, .stopped)
        return states[id]!
    }

    func delete(_ id: VMID) async throws(ProviderError) {
        try await step("delete", id)
        setState(id, nil)
    }

    func state(of id: VMID) -> MicroVMState? {
        states[id]
    }

    func reconcileAll() -> [MicroVMState] {
        states.values.sorted { $0.id < $1.id }
    }
}

func action(_ id: String, _ type: LeasedPlan.Action.TypeEnum, vm: String?, timeout: Int32 = 0) -> LeasedPlan.Action {
    LeasedPlan.Action(actionId: id, executionId: "exec-\(id)", type: type,
                      params: vm.map { LeasedPlan.Action.Params(vmId: $0, name: "demo", vcpu: 1, memoryMib: 128) },
                      timeout: timeout)
}

func plan(_ actions: [LeasedPlan.Action], id: String = "plan-1") -> LeasedPlan {
    LeasedPlan(planId: id, executionId: id, actions: actions)
}

@Suite("Plan executor", .serialized)
struct ExecutorTests {
    let logger = Logger(label: "test.executor")

    func executor(_ provider: any MicroVMProvider, ledger: any ActionLedger = InMemoryActionLedger(),
                  sink: CollectingLogSink = CollectingLogSink()) -> PlanExecutor {
        PlanExecutor(provider: provider, ledger: ledger, logSink: sink, logger: logger)
    }

    @Test("actions run in order; results carry each action's execution id")
    func runsInOrder() async throws {
        let provider = ScriptedProvider()
        let sink = CollectingLogSink()
        let report = await executor(provider, sink: sink).execute(plan([
            action("a1", .microVMCreate, vm: "vm1"), action("a2", .microVMStart, vm: "vm1"),
            action("a3", .microVMStop, vm: "vm1"), action("a4", .microVMDelete, vm: "vm1"),
        ]))
        #expect(await provider.calls == ["create vm1", "start vm1", "stop vm1", "delete vm1"])
        #expect(report.results.map(\.ok) == [true, true, true, true])
        #expect(report.results.map(\.executionId) == ["exec-a1", "exec-a2", "exec-a3", "exec-a4"])
        #expect(report.results.allSatisfy { $0.message == "ok" && $0.errorCode == nil && $0.startedAt != nil && $0.finishedAt != nil })
        #expect(report.failure == nil && report.notRunActionIDs.isEmpty)
        #expect(report.resultRequest.planId == "plan-1")
        let messages = await sink.messages
        #expect(messages.first == "plan execution started" && messages.last == "plan execution finished")
        let a2 = await sink.entries.filter { $0.actionID == "a2" }
        #expect(a2.map(\.executionID) == ["exec-a2", "exec-a2"])
        #expect(a2.map(\.message) == ["MicroVMStart of vm vm1 started", "action completed"])
    }

    @Test("the plan stops at the first failure; the rest is reported as not run")
    func stopsAtFailure() async throws {
        let provider = ScriptedProvider()
        await provider.configure(failing: ["start"])
        let report = await executor(provider).execute(plan([
            action("a1", .microVMCreate, vm: "vm1"), action("a2", .microVMStart, vm: "vm1"), action("a3", .microVMStop, vm: "vm1"),
        ]))
        #expect(report.results.map(\.ok) == [true, false])
        #expect(report.results[1].errorCode == "ACTION_FAILED")
        #expect(report.results[1].message == "start exploded")
        #expect(report.notRunActionIDs == ["a3"])
        #expect(report.failure == "action a2 failed: start exploded")
        #expect(await provider.calls == ["create vm1", "start vm1"])
    }

    @Test("a replayed plan is answered from the ledger; a failed action is retried")
    func idempotentReplay() async throws {
        let provider = ScriptedProvider()
        let ledger = InMemoryActionLedger()
        let sink = CollectingLogSink()
        let executor = executor(provider, ledger: ledger, sink: sink)
        let offered = plan([action("a1", .microVMCreate, vm: "vm1"), action("a2", .microVMStart, vm: "vm1")])
        await provider.configure(failing: ["start"])
        let first = await executor.execute(offered)
        #expect(first.results.map(\.ok) == [true, false])

        await provider.configure()
        let second = await executor.execute(offered)
        #expect(second.results.map(\.ok) == [true, true])
        #expect(await provider.calls == ["create vm1", "start vm1", "start vm1"])
        #expect(await sink.messages.contains("action reused from idempotency cache"))
        #expect(await sink.messages.contains("previously failed action is retried"))

        let third = await executor.execute(offered)
        #expect(third.results.map(\.ok) == [true, true])
        #expect(await provider.calls.count == 3)
        #expect(third.results[1].startedAt == second.results[1].startedAt)
        #expect(await ledger.allEntries.allSatisfy { $0.state == .succeeded })
    }

    @Test("an action started but never finished is settled from the VM's real state")
    func interruptedAction() async throws {
        let provider = ScriptedProvider()
        let ledger = InMemoryActionLedger()
        let sink = CollectingLogSink()
        await ledger.recordLedgerStarted(planID: "plan-1", actionID: "a1", executionID: "exec-a1", startedAt: Date())
        await ledger.recordLedgerStarted(planID: "plan-1", actionID: "a2", executionID: "exec-a2", startedAt: Date())
        await provider.setState(try VMID("vm1"), .created)
        let report = await executor(provider, ledger: ledger, sink: sink).execute(plan([
            action("a1", .microVMCreate, vm: "vm1"), action("a2", .microVMStart, vm: "vm1"),
        ]))
        #expect(report.results.map(\.ok) == [true, true])
        #expect(await provider.calls == ["start vm1"])
        #expect(await sink.messages.contains("interrupted action found complete on the host"))
        #expect(await sink.messages.contains("interrupted action is run again"))
    }

    @Test("an action exceeding its timeout fails with TIMEOUT", .timeLimit(.minutes(1)))
    func timeout() async throws {
        let provider = ScriptedProvider()
        await provider.configure(hanging: ["start"])
        let clock = ContinuousClock()
        let started = clock.now
        let report = await executor(provider).execute(plan([action("a1", .microVMStart, vm: "vm1", timeout: 1)]))
        #expect(clock.now - started < .seconds(20))
        #expect(report.results.first?.errorCode == "TIMEOUT")
        #expect(report.results.first?.message == "action timed out after 1 s")
    }

    @Test("invalid ids, missing params and unknown types are INVALID_PARAMS and reach no provider",
          arguments: ["", "../x", "a/b", ".", "..", String(repeating: "v", count: 200), "x;rm -rf /"])
    func invalidParams(_ vmID: String) async throws {
        let provider = ScriptedProvider()
        let report = await executor(provider).execute(plan([action("a1", .microVMDelete, vm: vmID)]))
        #expect(report.results.first?.ok == false)
        #expect(report.results.first?.errorCode == "INVALID_PARAMS")
        #expect(await provider.calls.isEmpty)
    }

    @Test("missing params, unknown type and a bad TAP name are INVALID_PARAMS")
    func otherInvalidParams() async throws {
        let provider = ScriptedProvider()
        let executor = executor(provider)
        var badTAP = action("a3", .microVMCreate, vm: "vm1")
        badTAP.params?.tapIface = "tap-name-way-too-long"
        // A local plan file could ask for 2^31-1 vCPUs and 2^63-1 MiB; they went to the VMM's command line.
        var huge = action("a4", .microVMCreate, vm: "vm1")
        huge.params?.vcpu = .max
        huge.params?.memoryMib = .max
        for offered in [action("a1", .microVMStart, vm: nil), action("a2", .unspecified, vm: "vm1"), badTAP, huge] {
            let report = await executor.execute(plan([offered], id: "plan-\(offered.actionId)"))
            #expect(report.results.first?.errorCode == "INVALID_PARAMS")
        }
        #expect(await provider.calls.isEmpty)
    }

    @Test("a blank execution id refuses the plan")
    func blankExecutionID() async {
        let provider = ScriptedProvider()
        let report = await executor(provider).execute(LeasedPlan(planId: "p", executionId: " ", actions: [action("a1", .microVMStart, vm: "vm1")]))
        #expect(report.results.isEmpty)
        #expect(report.notRunActionIDs == ["a1"])
        #expect(report.failure == "execution_id required")
    }
}
