import Foundation
import Logging
@testable import NKudoEdge
import NKudoContract
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("Plan executor with the Cloud Hypervisor provider and the fake VMM", .serialized)
struct ExecutorCloudHypervisorTests {
    let logger = Logger(label: "test.executor.ch")

    @Test("a full plan: create, start, stop, delete; replaying it re-runs nothing")
    func lifecycleAndReplay() async throws {
        let sandbox = try CloudHypervisorSandbox()
        let provider = try sandbox.provider()
        let ledger = InMemoryActionLedger()
        let executor = PlanExecutor(provider: provider, ledger: ledger, logSink: CollectingLogSink(), logger: logger)
        let offered = plan([
            action("c", .microVMCreate, vm: "vm-exec", timeout: 30), action("s", .microVMStart, vm: "vm-exec", timeout: 30),
            action("t", .microVMStop, vm: "vm-exec", timeout: 30), action("d", .microVMDelete, vm: "vm-exec", timeout: 30),
        ])
        defer { sandbox.killAll() }
        let report = await executor.execute(offered)
        #expect(report.results.map(\.ok) == [true, true, true, true], "\(report.results.map(\.message))")
        #expect(sandbox.launches().count == 1)
        #expect(!FileManager.default.fileExists(atPath: "\(sandbox.runtimeDirectory)/vm-exec"))

        let callsBefore = sandbox.calls()
        let replay = await executor.execute(offered)
        #expect(replay.results.map(\.ok) == [true, true, true, true])
        #expect(sandbox.launches().count == 1)
        #expect(sandbox.calls() == callsBefore)
        #expect(sandbox.livePIDs().isEmpty)
    }

    @Test("the VM survives the start action's return, in its own session")
    func survivesAction() async throws {
        let sandbox = try CloudHypervisorSandbox()
        let provider = try sandbox.provider()
        let executor = PlanExecutor(provider: provider, ledger: InMemoryActionLedger(), logSink: CollectingLogSink(), logger: logger)
        defer { sandbox.killAll() }
        let report = await executor.execute(plan([
            action("c", .microVMCreate, vm: "vm-live", timeout: 30), action("s", .microVMStart, vm: "vm-live", timeout: 5),
        ]))
        #expect(report.results.map(\.ok) == [true, true])
        try await Task.sleep(for: .seconds(1))
        let pid = try #require(sandbox.livePIDs().first)
        #expect(kill(pid, 0) == 0)
        #expect(getsid(pid) != getsid(0))
        #expect(try await provider.state(of: try VMID("vm-live"))?.status == .running)
        _ = try await provider.stop(try VMID("vm-live"))
    }

    @Test("a hanging VMM fails the start with TIMEOUT within the action timeout, and is killed", .timeLimit(.minutes(1)))
    func hangTimesOut() async throws {
        let sandbox = try CloudHypervisorSandbox()
        let provider = try sandbox.provider(environment: ["FAKE_CH_HANG": "vmm.ping"]) { $0.startTimeout = 60 }
        let executor = PlanExecutor(provider: provider, ledger: InMemoryActionLedger(), logSink: CollectingLogSink(), logger: logger)
        defer { sandbox.killAll() }
        let clock = ContinuousClock()
        let started = clock.now
        let report = await executor.execute(plan([
            action("c", .microVMCreate, vm: "vm-hang", timeout: 30), action("s", .microVMStart, vm: "vm-hang", timeout: 2),
            action("t", .microVMStop, vm: "vm-hang", timeout: 30),
        ]))
        #expect(clock.now - started < .seconds(25))
        #expect(report.results.map(\.ok) == [true, false])
        #expect(report.results[1].errorCode == "TIMEOUT")
        #expect(report.notRunActionIDs == ["t"])
        #expect(try await eventually { sandbox.livePIDs().isEmpty })
        #expect(try await provider.state(of: try VMID("vm-hang"))?.status == .stopped)
    }

    @Test("an injected API failure fails the action with ACTION_FAILED")
    func injectedFailure() async throws {
        let sandbox = try CloudHypervisorSandbox()
        let provider = try sandbox.provider(environment: ["FAKE_CH_FAIL": "vm.info"]) { $0.startTimeout = 2 }
        let executor = PlanExecutor(provider: provider, ledger: InMemoryActionLedger(), logSink: CollectingLogSink(), logger: logger)
        defer { sandbox.killAll() }
        let report = await executor.execute(plan([
            action("c", .microVMCreate, vm: "vm-fail", timeout: 30), action("s", .microVMStart, vm: "vm-fail", timeout: 30),
        ]))
        #expect(report.results.map(\.ok) == [true, false])
        #expect(report.results[1].errorCode == "ACTION_FAILED")
        #expect(report.results[1].message.contains("Injected failure"))
        #expect(try await eventually { sandbox.livePIDs().isEmpty })
    }

    @Test("hostile VM ids delete nothing, inside or outside the runtime dir")
    func hostileDeletes() async throws {
        let sandbox = try CloudHypervisorSandbox()
        let provider = try sandbox.provider()
        _ = try await provider.create(MicroVMSpec(id: try VMID("keep")))
        let outside = "\(sandbox.root)/x"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(sandbox.runtimeDirectory)/a/b", withIntermediateDirectories: true)
        let executor = PlanExecutor(provider: provider, ledger: InMemoryActionLedger(), logSink: CollectingLogSink(), logger: logger)
        let hostile = ["", "../x", "a/b", ".", "..", String(repeating: "a", count: 200), "x;rm -rf /", "../../\(URL(fileURLWithPath: sandbox.root).lastPathComponent)"]
        for (index, id) in hostile.enumerated() {
            let report = await executor.execute(plan([action("d\(index)", .microVMDelete, vm: id)], id: "p\(index)"))
            #expect(report.results.first?.errorCode == "INVALID_PARAMS", "\(id)")
        }
        var nullParams = action("dn", .microVMDelete, vm: nil)
        nullParams.params = nil
        #expect(await executor.execute(plan([nullParams], id: "pn")).results.first?.errorCode == "INVALID_PARAMS")
        #expect(FileManager.default.fileExists(atPath: "\(sandbox.runtimeDirectory)/keep/state.json"))
        #expect(FileManager.default.fileExists(atPath: outside))
        #expect(FileManager.default.fileExists(atPath: "\(sandbox.runtimeDirectory)/a/b"))
    }

    @Test("after a crash mid-start, the replayed start is settled from vm.info, not re-run")
    func crashMidStart() async throws {
        let sandbox = try CloudHypervisorSandbox()
        let provider = try sandbox.provider()
        let id = try VMID("vm-crash")
        _ = try await provider.create(MicroVMSpec(id: id))
        let ledger = InMemoryActionLedger()
        await ledger.recordLedgerStarted(planID: "plan-1", actionID: "s", executionID: "exec-s", startedAt: Date())
        _ = try await provider.start(id)
        defer { sandbox.killAll() }

        let restarted = try sandbox.provider()
        let sink = CollectingLogSink()
        let executor = PlanExecutor(provider: restarted, ledger: ledger, logSink: sink, logger: logger)
        let report = await executor.execute(plan([action("s", .microVMStart, vm: "vm-crash", timeout: 30)]))
        #expect(report.results.map(\.ok) == [true])
        #expect(sandbox.launches().count == 1)
        #expect(await sink.messages.contains("interrupted action found complete on the host"))
        #expect(await ledger.ledgerEntry(planID: "plan-1", actionID: "s")?.state == .succeeded)
        _ = try await restarted.stop(id)
    }
}
