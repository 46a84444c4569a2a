import Foundation
import Logging
import NKudoContract
@testable import NKudoEdge
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Crash safety of plan execution: a child process (this test binary in helper mode)
/// runs plans through the real provider and the durable ledger and is killed with
/// SIGKILL at a random moment; the same plans are then run to the end, as after an agent
/// restart. Whatever the moment, every action ends succeeded and no VM's VMM is ever
/// launched twice (a succeeded action is answered from the ledger, an interrupted one
/// is settled from the VM's real state, an unrecorded VMM is shut down, not orphaned).
@Suite("Plan execution crash safety", .serialized)
struct ExecutorCrashTests {
    static let helperVariable = "NKUDO_EXECUTOR_CRASH_HELPER"
    static let trialsVariable = "NKUDO_EXECUTOR_CRASH_TRIALS"
    static let vmCount = 2

    static func plans() -> [LeasedPlan] {
        (0..<vmCount).map { index in
            LeasedPlan(planId: "plan-\(index)", executionId: "exec-\(index)", actions: [
                .init(actionId: "create", type: .microVMCreate, params: .init(vmId: "vm-\(index)")),
                .init(actionId: "start", type: .microVMStart, params: .init(vmId: "vm-\(index)")),
            ])
        }
    }

    static func executor(root: String, vmm: String, iso: String) async throws -> PlanExecutor {
        var configuration = CloudHypervisorConfiguration()
        configuration.cloudHypervisorBinary = vmm
        configuration.runtimeDirectory = root + "/vms"
        configuration.imageDirectories = [root + "/images"]
        configuration.imageCacheDirectory = root + "/image-cache"
        configuration.isoTool = iso
        configuration.networking = .disabled
        configuration.blankDiskSizeMiB = 16
        configuration.startTimeout = 10
        configuration.stopTimeout = 3
        configuration.terminateTimeout = 2
        var logger = Logger(label: "test.crash")
        logger.logLevel = .critical
        return PlanExecutor(provider: CloudHypervisorProvider(configuration: configuration, logger: logger),
                            ledger: try await EdgeStateStore.open(directory: root + "/state", logger: logger), logSink: nil, logger: logger)
    }

    /// Helper mode only (the child process): runs the plans once.
    @Test(.enabled(if: ProcessInfo.processInfo.environment[helperVariable] != nil))
    func crashHelperExecute() async throws {
        let environment = ProcessInfo.processInfo.environment
        let root = try #require(environment[Self.helperVariable])
        let executor = try await Self.executor(root: root, vmm: try #require(environment["NKUDO_CRASH_VMM"]),
                                         iso: try #require(environment["NKUDO_CRASH_ISO"]))
        try TestFiles.write("ready", to: root + "/ready")
        for plan in Self.plans() {
            _ = await executor.execute(plan)
        }
    }

    /// Starts this test binary in helper mode on `sandbox`: the child, the VMM and the ISO tool it uses.
    static func launchHelper(in sandbox: CloudHypervisorSandbox) throws -> (Process, vmm: String, iso: String) {
        let vmm = try sandbox.vmmBinary()
        let iso = try sandbox.isoTool()
        let child = Process()
        child.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        child.arguments = ["--testing-library", "swift-testing", "--filter", "crashHelperExecute"]
        var environment = ProcessInfo.processInfo.environment
        environment[Self.helperVariable] = sandbox.root
        environment["NKUDO_CRASH_VMM"] = vmm
        environment["NKUDO_CRASH_ISO"] = iso
        child.environment = environment
        child.standardOutput = FileHandle.nullDevice
        child.standardError = FileHandle.nullDevice
        try child.run()
        return (child, vmm, iso)
    }

    @Test("SIGKILL during plan execution: the rerun finishes every action and launches no VMM twice", .timeLimit(.minutes(10)))
    func killedExecutorRunsNothingTwice() async throws {
        let trials = Int(ProcessInfo.processInfo.environment[Self.trialsVariable] ?? "") ?? 20
        // One run to the end first: how long the plans take from `ready` on this machine now;
        // the kills fall within that window, which then follows the machine's load (halved
        // after a kill that came too late, widened after one that landed), since other
        // suites run beside this one.
        let calibration = try CloudHypervisorSandbox()
        let (calibrationChild, _, _) = try Self.launchHelper(in: calibration)
        #expect(try await eventually(30) { FileManager.default.fileExists(atPath: calibration.root + "/ready") || !calibrationChild.isRunning })
        let readyAt = ContinuousClock.now
        #expect(try await eventually(60) { !calibrationChild.isRunning })
        var window = max(Int(((ContinuousClock.now - readyAt) / .milliseconds(1)) * 0.9), 20)
        calibration.killAll()
        var interrupted = 0
        for trial in 0..<trials {
            let sandbox = try CloudHypervisorSandbox()
            let (child, vmm, iso) = try Self.launchHelper(in: sandbox)
            #expect(try await eventually(30) { FileManager.default.fileExists(atPath: sandbox.root + "/ready") || !child.isRunning })
            try await Task.sleep(for: .milliseconds(Int.random(in: 0...window)))
            if child.isRunning {
                interrupted += 1
                window = window * 11 / 10
            } else {
                window = max(window / 2, 20)
            }
            kill(child.processIdentifier, SIGKILL)
            child.waitUntilExit()

            let executor = try await Self.executor(root: sandbox.root, vmm: vmm, iso: iso)
            for plan in Self.plans() {
                let report = await executor.execute(plan)
                #expect(report.failure == nil, "trial \(trial): \(report.failure ?? "")")
            }
            for index in 0..<Self.vmCount {
                let socket = "\(sandbox.runtimeDirectory)/vm-\(index)/"
                let launches = sandbox.launches().filter { $0.contains { $0.hasPrefix(socket) } }
                #expect(launches.count == 1, "trial \(trial): vm-\(index) launched \(launches.count) times")
            }
            sandbox.killAll()
        }
        #expect(interrupted > trials / 4, "too few kills landed during execution (\(interrupted) of \(trials))")
    }
}
