import Foundation

/// Debian's `protoc`, the independent encoder and decoder the wire and contract tests check
/// our bytes against.
public enum ProtocProcess {
    /// protoc exited with a failure; its standard error.
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// `protoc --proto_path=<protoPath> <arguments> <files>` with `input` on its standard
    /// input; its standard output.
    ///
    /// Run and waited for on a thread of its own: hundreds of runs (~50 ms each) waited for
    /// on the two threads of Swift's cooperative pool held back every other test of the
    /// run. At most ``concurrentRuns`` at once in the whole test process: with a thread per
    /// run and no bound, hundreds of `Process.run()` started together and Foundation's
    /// spawn crashed (a bad read in `memcpy`, once in a clean-clone run).
    public static func run(protoPath: String, arguments: [String], files: [String], input: [UInt8]) async throws -> [UInt8] {
        try await withCheckedThrowingContinuation { continuation in
            Thread {
                runs.wait()
                defer { runs.signal() }
                continuation.resume(with: Result {
                    try runBlocking(["--proto_path=\(protoPath)"] + arguments + files, input: input)
                })
            }.start()
        }
    }

    /// How many protoc processes run at once: as many as Swift's pool ran before.
    public static let concurrentRuns = 2
    private static let runs = DispatchSemaphore(value: concurrentRuns)

    private static func runBlocking(_ arguments: [String], input: [UInt8]) throws -> [UInt8] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["protoc"] + arguments
        let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        let writer = Thread {
            stdin.fileHandleForWriting.write(Data(input))
            try? stdin.fileHandleForWriting.close()
        }
        writer.start()
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        let errors = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Failure(description: "protoc \(arguments.joined(separator: " ")) failed: \(String(decoding: errors, as: UTF8.self))")
        }
        return Array(output)
    }
}
