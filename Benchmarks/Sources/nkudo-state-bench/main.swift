// nkudo-state-bench: what one log line costs the agent, through the production path
// (`OutboxLogSink.emit` into the agent's state in a fresh --state-dir), as the outbox
// grows while the control plane is unreachable. Usage: nkudo-state-bench [--lines N]
import Foundation
import Logging
import NKudoEdge

var measured = 200
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    switch argument {
    case "--lines": measured = max(1, Int(arguments.next() ?? "") ?? measured)
    case "-h", "--help":
        print("usage: nkudo-state-bench [--lines N (lines timed at each outbox size, default 200)]")
        exit(0)
    default:
        FileHandle.standardError.write(Data("unknown argument \(argument) (see --help)\n".utf8))
        exit(2)
    }
}

var logger = Logger(label: "bench")
logger.logLevel = .critical
let message = String(repeating: "x", count: 120)

/// Appends `count` lines; returns the seconds it took.
func append(_ sink: OutboxLogSink, _ count: Int) async -> Double {
    let start = ContinuousClock.now
    for index in 0..<count {
        await sink.emit(ExecutionLogEntry(executionID: "2b1f0c3e-5a7d-4e8f-9b0a-1c2d3e4f5a6b", actionID: "create-web", severity: .info,
                                          message: "\(index) \(message)"))
    }
    let elapsed = ContinuousClock.now - start
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
}

print("outbox lines already queued | µs per appended line (\(measured) lines)")
for queued in [0, 1_000, 10_000, 100_000] {
    let directory = FileManager.default.temporaryDirectory.appending(path: "nkudo-state-bench-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let store = try await EdgeStateStore.open(directory: directory, logger: logger)
    let sink = OutboxLogSink(store: store, logger: logger)
    _ = await append(sink, queued)
    let seconds = await append(sink, measured)
    print(String(format: "%27d | %10.1f", queued, seconds / Double(measured) * 1e6))
}
