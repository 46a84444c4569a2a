import ControlPlaneTestSupport
import Foundation
import NKudoContract
import NKudoControlPlane
import NKudoEdge
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The `nkudo-edge` binary as an operator runs it: exit statuses, one-line reasons,
/// SIGTERM, `apply` and `verify-heartbeat` against a real control plane.
@Suite("nkudo-edge command line", .serialized)
struct EdgeCLITests {
    struct Outcome {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static var binary: String {
        URL(fileURLWithPath: try! AgentRig.fakeVMM()).deletingLastPathComponent().appendingPathComponent("nkudo-edge").path
    }

    /// Starts `nkudo-edge arguments…` (or `executable arguments…`) with stdout and stderr going to temporary files.
    static func launch(_ arguments: [String], environment: [String: String] = [:], executable: String? = nil) throws -> (Process, stdout: String, stderr: String) {
        let base = FileManager.default.temporaryDirectory.appending(path: "nkcli-\(UUID().uuidString)").path
        _ = FileManager.default.createFile(atPath: base + ".out", contents: nil)
        _ = FileManager.default.createFile(atPath: base + ".err", contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable ?? binary)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        process.standardOutput = FileHandle(forWritingAtPath: base + ".out")
        process.standardError = FileHandle(forWritingAtPath: base + ".err")
        try process.run()
        return (process, base + ".out", base + ".err")
    }

    /// Waits for the process on a dispatch thread (blocking the cooperative pool would
    /// starve the in-process control plane) and collects its output.
    static func finish(_ launched: (Process, stdout: String, stderr: String)) async -> Outcome {
        let (process, stdoutPath, stderrPath) = launched
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                process.waitUntilExit()
                continuation.resume()
            }
        }
        defer {
            try? FileManager.default.removeItem(atPath: stdoutPath)
            try? FileManager.default.removeItem(atPath: stderrPath)
        }
        return Outcome(status: process.terminationStatus,
                       stdout: (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "",
                       stderr: (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "")
    }

    static func run(_ arguments: [String], environment: [String: String] = [:]) async throws -> Outcome {
        await finish(try launch(arguments, environment: environment))
    }

    /// Runs another program (e.g. `faketime … nkudo-edge …`) the same way.
    static func runProgram(_ executable: String, _ arguments: [String]) async throws -> Outcome {
        await finish(try launch(arguments, executable: executable))
    }

    /// The flags every agent command of these tests uses: the rig's directories, the fake VMM, no TAP, no NetBird.
    static func agentFlags(_ rig: AgentRig) throws -> [String] {
        ["--pki-dir", rig.root + "/pki", "--state-dir", rig.root + "/state", "--runtime-dir", rig.root + "/vms",
         "--image-dir", rig.root + "/images", "--image-cache-dir", rig.root + "/image-cache", "--cloud-hypervisor-bin", try AgentRig.fakeVMM(),
         "--network", "none",
         "--netbird-enabled", "false", "--log-level", "warning"]
    }

    @Test("verify-heartbeat: 0 when the heartbeat works, 1 with one line when not enrolled or the control plane is down (defect 20)")
    func verifyHeartbeat() async throws {
        try await AgentRig.with(format: .binary) { harness, fleet, rig in
            let ok = try await Self.run(["verify-heartbeat"] + Self.agentFlags(rig))
            #expect(ok.status == 0, "\(ok.stderr)")
            let unenrolled = try await Self.run(["verify-heartbeat", "--pki-dir", rig.root + "/nothing", "--state-dir", rig.root + "/state",
                                                 "--netbird-enabled", "false"])
            #expect(unenrolled.status == 1)
            #expect(unenrolled.stderr.hasPrefix("error: not enrolled"), "\(unenrolled.stderr)")
            await harness.stopServing()
            let down = try await Self.run(["verify-heartbeat"] + Self.agentFlags(rig))
            #expect(down.status == 1)
            let lines = down.stderr.split(separator: "\n")
            #expect(lines.last?.hasPrefix("error: heartbeat failed:") == true, "\(down.stderr)")
            // The system's reason, not NIO's nested "connection reset (error set): Connection refused) (errno: 111)".
            #expect(lines.last?.hasSuffix(": Connection refused") == true && !down.stderr.contains("errno"), "\(down.stderr)")
            let once = try await Self.run(["run", "--once"] + Self.agentFlags(rig))
            #expect(once.status == 1, "run --once does not hide a failed heartbeat")
            let badFlag = try await Self.run(["run", "--heartbeat-interval", "soon"] + Self.agentFlags(rig))
            #expect(badFlag.status != 0)
            #expect(badFlag.stderr.contains("heartbeat-interval"))
        }
    }

    @Test("run exits 0 on SIGTERM and leaves nothing undelivered")
    func sigterm() async throws {
        try await AgentRig.with(format: .binary, { $0.heartbeatInterval = .seconds(1) }) { harness, fleet, rig in
            let launched = try Self.launch(["run", "--heartbeat-interval", "1s"] + Self.agentFlags(rig))
            let deadline = Date().addingTimeInterval(30)
            var online = false
            while Date() < deadline, !online {
                try await Task.sleep(for: .milliseconds(200))
                let hosts = try await fleet.tenantClient.listHosts(ListHostsRequest(siteId: fleet.site.id)).hosts
                online = hosts.contains { $0.agentState == .online && $0.lastFactsAt != nil }
            }
            #expect(online, "the agent's heartbeats arrive")
            kill(launched.0.processIdentifier, SIGTERM)
            let outcome = await Self.finish(launched)
            #expect(launched.0.terminationReason == .exit)
            #expect(outcome.status == 0, "\(outcome.stderr)")
            #expect(try await rig.state.outboxCount() == 0)
        }
    }

    @Test("apply runs a local plan file, prints the result and is idempotent; bad input is one clear line")
    func apply() async throws {
        let root = "/tmp/nkapply-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let plan = #"""
            {"execution_id": "exec-local-1", "actions": [
              {"type": "MicroVMCreate", "params": {"vm_id": "vm-local", "name": "local", "vcpu": 1, "memory_mib": 128}},
              {"type": "MicroVMStart", "params": {"vm_id": "vm-local"}},
              {"type": "MicroVMStop", "params": {"vm_id": "vm-local"}},
              {"type": "MicroVMDelete", "params": {"vm_id": "vm-local"}}]}
            """#
        try plan.write(toFile: root + "/plan.json", atomically: true, encoding: .utf8)
        let flags = ["--state-dir", root + "/state", "--runtime-dir", root + "/vms", "--image-dir", root + "/images", "--image-cache-dir", root + "/image-cache",
                     "--cloud-hypervisor-bin", try AgentRig.fakeVMM(), "--network", "none", "--log-level", "warning"]
        let first = try await Self.run(["apply", "--plan", root + "/plan.json"] + flags)
        #expect(first.status == 0, "\(first.stderr)")
        let result = try ReportExecutionResultRequest(jsonString: first.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(result.results.map(\.actionId) == ["action-1", "action-2", "action-3", "action-4"])
        #expect(result.results.allSatisfy { $0.ok })
        let again = try await Self.run(["apply", "--plan", root + "/plan.json"] + flags)
        #expect(again.status == 0)
        let ledger = try await EdgeStateStore.open(directory: root + "/state", logger: AgentRig.logger)
        #expect(try await ledger.ledgerEntry(planID: "exec-local-1", actionID: "action-1")?.state == .succeeded)
        let missing = try await Self.run(["apply", "--plan", root + "/missing.json"] + flags)
        #expect(missing.status == 1)
        #expect(missing.stderr == "error: cannot read --plan \(root)/missing.json\n")
        try "{not json".write(toFile: root + "/bad.json", atomically: true, encoding: .utf8)
        let bad = try await Self.run(["apply", "--plan", root + "/bad.json"] + flags)
        #expect(bad.status == 1)
        #expect(bad.stderr.hasPrefix("error: --plan \(root)/bad.json is not a plan"))
        let hostile = #"{"execution_id": "e2", "actions": [{"type": "MicroVMDelete", "params": {"vm_id": "../.."}}]}"#
        try hostile.write(toFile: root + "/hostile.json", atomically: true, encoding: .utf8)
        let refused = try await Self.run(["apply", "--plan", root + "/hostile.json"] + flags)
        #expect(refused.status == 1)
        #expect(FileManager.default.fileExists(atPath: root + "/plan.json"), "a hostile VM id deletes nothing")
    }
}

/// The README's edge flag table lists every flag of the agent's subcommands.
@Suite("nkudo-edge documentation")
struct EdgeDocumentationTests {
    @Test("every flag of enroll, run, verify-heartbeat and apply is in the README", arguments: ["enroll", "run", "verify-heartbeat", "apply"])
    func readmeListsEveryFlag(subcommand: String) async throws {
        let readme = try String(contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appending(path: "README.md"), encoding: .utf8)
        let help = try await EdgeCLITests.run([subcommand, "--help"])
        #expect(help.status == 0)
        let flags = Set(help.stdout.matches(of: /--[a-z][a-z0-9-]+/).map { String($0.output) }).subtracting(["--help", "--version"])
        #expect(flags.count > 3)
        for flag in flags.sorted() {
            #expect(readme.contains("`\(flag)`"), "README is missing \(flag) of \(subcommand)")
        }
    }
}
