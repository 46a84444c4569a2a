import Foundation
import Logging

/// Runs external tools (`ip`, the ISO tool) with a timeout, capturing their output,
/// and traces each command line to the VM's `commands.log`.
struct CommandRunner: Sendable {
    var timeout: Double
    var logger: Logger

    /// Runs `executable arguments`; throws ``ProviderError/Code/commandFailed`` with the
    /// exit status and output on failure. Cancelling the task terminates the command.
    @discardableResult
    func run(_ executable: String, _ arguments: [String], traceTo commandsLog: String?) async throws(ProviderError) -> String {
        let line = ([executable] + arguments).map(Self.quoted).joined(separator: " ")
        if let commandsLog {
            Self.trace(line, to: commandsLog)
        }
        logger.debug("running command", metadata: [EdgeLogKey.command: "\(line)"])
        let process = Process()
        if executable.contains("/") {
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
        } else {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [executable] + arguments
        }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        let status: Int32
        do {
            status = try await withTaskCancellationHandler {
                try await withThrowingTaskGroup(of: Int32?.self) { group in
                    group.addTask {
                        await withCheckedContinuation { continuation in
                            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
                            do {
                                try process.run()
                            } catch {
                                process.terminationHandler = nil
                                continuation.resume(returning: -1)
                            }
                        }
                    }
                    group.addTask {
                        try await Task.sleep(for: .seconds(timeout))
                        return nil
                    }
                    let first = try await group.next() ?? nil
                    group.cancelAll()
                    guard let first else {
                        process.terminate()
                        throw ProviderError(.commandFailed, "\(line): timed out after \(Int(timeout)) s")
                    }
                    return first
                }
            } onCancel: {
                process.terminate()
            }
        } catch let error as ProviderError {
            throw error
        } catch {
            process.terminate()
            throw ProviderError(.commandFailed, "\(line): cancelled")
        }
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        guard status == 0 else {
            let detail = status == -1 ? "cannot run \(executable)" : "exit status \(status)"
            throw ProviderError(.commandFailed, text.isEmpty ? "\(line): \(detail)" : "\(line): \(detail): \(text)")
        }
        return text
    }

    /// Appends `<UTC time> <line>` to `commandsLog` (reference §6.12).
    static func trace(_ line: String, to commandsLog: String) {
        // Not ISO8601DateFormatter or Date.ISO8601FormatStyle: both reach ICU (see UTCTimestamp).
        let stamp = UTCTimestamp.string(from: Date())
        let entry = Data("\(stamp) \(line)\n".utf8)
        if let handle = FileHandle(forWritingAtPath: commandsLog) {
            _ = try? handle.seekToEnd()
            try? handle.write(contentsOf: entry)
            try? handle.close()
        } else {
            _ = FileManager.default.createFile(atPath: commandsLog, contents: entry, attributes: [.posixPermissions: 0o644])
        }
    }

    /// Shell-style quoting of one argument, as the original's `commands.log`.
    static func quoted(_ argument: String) -> String {
        if argument.isEmpty {
            return "''"
        }
        guard argument.contains(where: { " \t\n'\"\\".contains($0) }) else {
            return argument
        }
        return "'" + argument.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
