import Dispatch
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Runs a command with a deadline and collects its combined stdout and stderr; the
/// process is killed (SIGKILL) when the deadline passes.
struct ProcessRunner: Sendable {
    /// Result of one run.
    struct Output: Sendable, Equatable {
        /// Exit status (or the terminating signal number when killed).
        var exitCode: Int32
        /// Combined stdout and stderr.
        var output: String
        /// The deadline passed and the process was killed.
        var timedOut: Bool

        /// Exited with status 0 within the deadline.
        var succeeded: Bool { exitCode == 0 && !timedOut }
    }

    /// Runs `executable` (a path) with `arguments` and exactly `environment`.
    ///
    /// - Throws: ``NetBirdError`` when the process cannot be started.
    func run(
        _ executable: String,
        _ arguments: [String],
        environment: [String: String],
        timeout: Duration
    ) async throws -> Output {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(
                    with: Result {
                        try Self.runBlocking(executable, arguments, environment: environment, timeout: timeout)
                    }
                )
            }
        }
    }

    private static func runBlocking(
        _ executable: String,
        _ arguments: [String],
        environment: [String: String],
        timeout: Duration
    ) throws -> Output {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = environment
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw NetBirdError("cannot start \(executable): \(error.localizedDescription)")
        }
        let deadline = Deadline(process: process)
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        DispatchQueue.global().asyncAfter(deadline: .now() + seconds) { deadline.expire() }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let timedOut = deadline.finish()
        return Output(
            exitCode: process.terminationStatus,
            output: String(decoding: data, as: UTF8.self),
            timedOut: timedOut
        )
    }

    /// Kills the process when the deadline passes first; `finish` reports whether it did.
    ///
    /// `@unchecked Sendable`: the only mutable field is guarded by `lock`, and `Process`
    /// is only asked `isRunning` / `processIdentifier` under that lock.
    private final class Deadline: @unchecked Sendable {
        private let lock = NSLock()
        private let process: Process
        private var state = State.running

        private enum State {
            case running
            case expired
            case finished
        }

        init(process: Process) {
            self.process = process
        }

        func expire() {
            lock.withLock {
                guard state == .running, process.isRunning else {
                    return
                }
                state = .expired
                kill(process.processIdentifier, SIGKILL)
            }
        }

        func finish() -> Bool {
            lock.withLock {
                if state == .running {
                    state = .finished
                }
                return state == .expired
            }
        }
    }
}
