import Foundation
import NKudoEdge
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Crash safety of the state store: a child process (this test binary re-executed in
/// helper mode) writes in a loop and is killed with SIGKILL at random moments; after
/// every kill the state must load and every enqueued-and-confirmed outbox entry must be
/// there, and every confirmed acknowledgement must have removed its entry. An
/// acknowledgement the kill interrupted may have happened or not.
@Suite("EdgeStateStore crash safety", .serialized)
struct StateCrashTests {
    static let helperVariable = "NKUDO_STATE_CRASH_HELPER"
    static let trialsVariable = "NKUDO_STATE_CRASH_TRIALS"

    /// Helper mode only (the child process): loops writes and confirms each one in a
    /// side log after the store call returned.
    @Test(.enabled(if: ProcessInfo.processInfo.environment[helperVariable] != nil))
    func crashHelperLoop() async throws {
        let directory = try #require(ProcessInfo.processInfo.environment[Self.helperVariable])
        let store = try await EdgeStateStore.open(directory: directory, logger: TestFiles.logger)
        let log = try #require(FileHandle(forWritingAtPath: directory + "/side.log"))
        log.seekToEndOfFile()
        try TestFiles.write("ready", to: directory + "/ready")
        for step in 0..<100_000 {
            let entry = try await store.enqueue(kind: step % 3 == 0 ? .actionResult : .logLine, payload: #"{"step":\#(step)}"#)
            log.write(Data("E \(entry.id)\n".utf8))
            try await store.replaceMicroVMs([MicroVMRecord(id: "vm-\(step % 7)", chPID: step, status: "RUNNING")])
            try await store.recordLedgerStarted(planID: "plan", actionID: "a\(step % 11)", executionID: "e\(step)", startedAt: Date())
            if step % 2 == 1, let oldest = try await store.peek(limit: 1).first {
                log.write(Data("P \(oldest.id)\n".utf8))
                try await store.acknowledge(ids: [oldest.id])
                log.write(Data("A \(oldest.id)\n".utf8))
            }
        }
    }

    @Test("SIGKILL at random points never corrupts the state or loses a confirmed entry")
    func killedWriterLosesNothing() async throws {
        let trials = Int(ProcessInfo.processInfo.environment[Self.trialsVariable] ?? "") ?? 100
        let base = try TestFiles.makeTemporaryDirectory("crash")
        let directory = base + "/state"
        _ = try await EdgeStateStore.open(directory: directory, logger: TestFiles.logger)
        _ = FileManager.default.createFile(atPath: directory + "/side.log", contents: nil)
        var killedWhileWriting = 0
        var confirmed = 0
        for trial in 0..<trials {
            try? FileManager.default.removeItem(atPath: directory + "/ready")
            let child = Process()
            child.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
            child.arguments = ["--testing-library", "swift-testing", "--filter", "crashHelperLoop"]
            var environment = ProcessInfo.processInfo.environment
            environment[Self.helperVariable] = directory
            child.environment = environment
            child.standardOutput = FileHandle.nullDevice
            child.standardError = FileHandle.nullDevice
            try child.run()
            let started = Date()
            while !FileManager.default.fileExists(atPath: directory + "/ready"), child.isRunning,
                Date().timeIntervalSince(started) < 30
            {
                usleep(1_000)
            }
            #expect(child.isRunning, "helper exited early in trial \(trial)")
            // Let the child confirm at least one write before the random delay, so a
            // loaded machine (slow child) still exercises kills in the middle of writes.
            let sizeBefore = (try? FileManager.default.attributesOfItem(atPath: directory + "/side.log")[.size] as? Int) ?? 0
            while child.isRunning, Date().timeIntervalSince(started) < 30,
                ((try? FileManager.default.attributesOfItem(atPath: directory + "/side.log")[.size] as? Int) ?? 0) <= sizeBefore
            {
                usleep(1_000)
            }
            usleep(UInt32.random(in: 0...50_000))
            if child.isRunning {
                killedWhileWriting += 1
            }
            kill(child.processIdentifier, SIGKILL)
            child.waitUntilExit()

            let store = try await EdgeStateStore.open(directory: directory, logger: TestFiles.logger)
            let pending = Set(try await store.peek(limit: Int.max).map(\.id))
            await store.close()
            var enqueued: Set<String> = []
            var acknowledging: Set<String> = []
            var acknowledged: Set<String> = []
            for line in try String(contentsOfFile: directory + "/side.log", encoding: .utf8).split(separator: "\n") {
                let parts = line.split(separator: " ")
                guard parts.count == 2 else {
                    continue
                }
                switch parts[0] {
                case "E": enqueued.insert(String(parts[1]))
                case "P": acknowledging.insert(String(parts[1]))
                default: acknowledged.insert(String(parts[1]))
                }
            }
            // An acknowledgement interrupted by the kill ("P" without "A") may or may not
            // have reached the disk; every other confirmed entry must still be queued.
            let lost = enqueued.subtracting(acknowledging).subtracting(pending)
            #expect(lost.isEmpty, "trial \(trial): confirmed entries lost: \(lost.count)")
            #expect(pending.isDisjoint(with: acknowledged), "trial \(trial): acknowledged entries came back")
            confirmed = enqueued.count + acknowledged.count
        }
        #expect(killedWhileWriting == trials)
        #expect(confirmed >= trials, "too few confirmed writes (\(confirmed)) to exercise crashes")
        TestFiles.remove(base)
    }
}
