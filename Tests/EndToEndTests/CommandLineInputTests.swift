import Foundation
import Testing

/// What the three binaries do with hostile or mistaken command lines that used to crash
/// them or change their meaning: a usage error, never a trap.
@Suite("command lines", .serialized)
struct CommandLineInputTests {
    static var controlPlane: String {
        URL(fileURLWithPath: EdgeCLITests.binary).deletingLastPathComponent().appendingPathComponent("nkudo-control-plane").path
    }

    @Test("nkudo-control-plane: an empty argument, a flag without its value before another flag, an oversized heartbeat interval", arguments: [
        ([""], [String: String](), "unknown option ''"),
        // `--admin-key=` took the next flag as its value: the key became that text and the address given was lost.
        (["--admin-key", "--control-plane-addr=127.0.0.1:1"], [:], "missing value for '--admin-key'"),
        (["--admin-key"], [:], "missing value for '--admin-key'"),
        ([], ["HEARTBEAT_INTERVAL": "3000000000"], "HEARTBEAT_INTERVAL: must be at most"),
    ])
    func controlPlaneFlags(arguments: [String], environment: [String: String], message: String) async throws {
        let outcome = await EdgeCLITests.finish(try EdgeCLITests.launch(["serve"] + arguments, environment: environment,
                                                                       executable: Self.controlPlane))
        #expect(outcome.status == 64, "exit \(outcome.status): \(outcome.stderr)")
        #expect(outcome.stderr.contains(message), "\(outcome.stderr)")
    }

    @Test("nkudo-control-plane on an address in use says which setting, not bind(2)'s text")
    func addressInUse() async throws {
        let port = Int.random(in: 20_000...40_000)
        let listener = try EdgeCLITests.launch(["-c", "import socket, time; s = socket.socket(); s.bind(('127.0.0.1', \(port))); s.listen(); time.sleep(60)"],
                                               executable: "/usr/bin/python3")
        defer { listener.0.terminate() }
        try await Task.sleep(for: .milliseconds(500))
        let data = FileManager.default.temporaryDirectory.appending(path: "nkudo-inuse-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: data) }
        let outcome = await EdgeCLITests.finish(try EdgeCLITests.launch(["serve"], environment: [
            "NKUDO_DATA_DIR": data, "CONTROL_PLANE_ADDR": "127.0.0.1:\(port)", "METRICS_ADDR": "off",
        ], executable: Self.controlPlane))
        // A failure at run time, not a usage error: exit 1, no usage line.
        #expect(outcome.status == 1, "exit \(outcome.status): \(outcome.stderr)")
        #expect(outcome.stderr.contains("CONTROL_PLANE_ADDR: 127.0.0.1:\(port) is in use"), "\(outcome.stderr)")
        #expect(!outcome.stderr.contains("Usage:"), "\(outcome.stderr)")
    }

    @Test("an error written to a closed stderr (a pipe whose reader left) is an exit status, not a trap")
    func closedStandardError() async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: EdgeCLITests.binary).deletingLastPathComponent().appendingPathComponent("nkudo")
        // The connection attempt starts NIO, which ignores SIGPIPE: the write then fails instead of killing the process.
        process.arguments = ["site", "list", "--url", "https://127.0.0.1:1", "--ca-fingerprint", String(repeating: "0", count: 64),
                             "--config", "/nonexistent/nkudo.toml"]
        let pipe = Pipe()
        process.standardError = pipe
        process.standardOutput = FileHandle.nullDevice
        try pipe.fileHandleForReading.close()
        try process.run()
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                process.waitUntilExit()
                continuation.resume()
            }
        }
        #expect(process.terminationReason == .exit || process.terminationStatus == SIGPIPE,
                "ended by signal \(process.terminationStatus), not an exit status")
        #expect(process.terminationStatus != SIGILL && process.terminationStatus != SIGTRAP)
    }

    @Test("nkudo-edge: a port past 65535, a query, and durations past 100 years are usage errors", arguments: [
        ["enroll", "--control-plane", "https://127.0.0.1:99999", "--ca-fingerprint", "sha256:00", "--token", "t"],
        ["enroll", "--control-plane", "https://127.0.0.1:8443/?x=1", "--ca-fingerprint", "sha256:00", "--token", "t"],
        ["run", "--control-plane", "https://127.0.0.1:0"],
        ["run", "--control-plane", "https://127.0.0.1:8443", "--heartbeat-interval", "99999999999h"],
        ["run", "--control-plane", "https://127.0.0.1:8443", "--plan-wait", "99999999999h"],
        ["enroll", "--control-plane", "https://127.0.0.1:8443", "--insecure-skip-verify"],
    ])
    func edgeFlags(arguments: [String]) async throws {
        let outcome = try await EdgeCLITests.run(arguments, environment: ["NKUDO_ENROLL_TOKEN": ""])
        #expect(outcome.status == 64, "exit \(outcome.status): \(outcome.stderr)")
        #expect(!outcome.stderr.contains("Fatal error"), "\(outcome.stderr)")
        #expect(outcome.stderr.contains("Usage: nkudo-edge \(arguments[0])"), "the subcommand's usage: \(outcome.stderr)")
    }
}
