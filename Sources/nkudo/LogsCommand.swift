import ArgumentParser
import Foundation
import NKudoClient
import NKudoContract

/// `nkudo logs EXECUTION [--follow]`.
struct LogsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs",
        abstract: "Print the log lines of an execution (with its plan's plan-level lines), oldest first.",
        discussion: """
            --follow keeps printing new lines until the execution is SUCCEEDED, FAILED or CANCELLED (or Ctrl-C). \
            With -o json or -o yaml and --follow, each line is one JSON object per line or one YAML document.
            """)

    @Argument(help: "Execution id (nkudo plan get, nkudo site status).")
    var execution: String

    @Flag(name: [.short, .long], help: "Keep following until the execution is done.")
    var follow = false

    @Option(help: "How often --follow asks for new lines, e.g. 1s.")
    var interval: String = "1s"

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        guard let duration = HumanFormat.parseDuration(interval), duration >= .milliseconds(100) else {
            throw ValidationError("--interval must be a duration of at least 100ms, e.g. 1s")
        }
    }

    func run() async throws {
        let output = Output(format: global.output)
        try await global.withSession { session in
            var seen = Set<Int64>()
            let first = try await Self.fetch(session, execution: execution, seen: &seen)
            guard follow else {
                try output.emit(ListExecutionLogsResponse(logs: first)) { wide in Rendering.logs(first, wide: wide) }
                return
            }
            try Self.stream(first, output: output)
            let pause = HumanFormat.parseDuration(interval) ?? .seconds(1)
            var planID = first.first { !$0.planId.isEmpty }?.planId
            while true {
                var state: Execution.State?
                if let planID {
                    let plan = try await session.tenant.getPlan(GetPlanRequest(planId: planID))
                    state = plan.executions.first { $0.id == execution.lowercased() }?.state
                }
                let lines = try await Self.fetch(session, execution: execution, seen: &seen)
                try Self.stream(lines, output: output)
                planID = planID ?? lines.first { !$0.planId.isEmpty }?.planId
                if let state, state == .succeeded || state == .failed || state == .cancelled {
                    if !output.isStructured { try? FileHandle.standardError.write(contentsOf: Data("execution \(execution) \(Rendering.name(state))\n".utf8)) }
                    return
                }
                try await Task.sleep(for: pause)
            }
        }
    }

    /// Every line not in `seen`, oldest first (all pages, whatever order the server pages in).
    static func fetch(_ session: Session, execution: String, seen: inout Set<Int64>) async throws -> [ExecutionLog] {
        var lines: [ExecutionLog] = []
        var cursor = ""
        repeat {
            let page = try await session.tenant.listExecutionLogs(ListExecutionLogsRequest(executionId: execution, limit: 2000, cursor: cursor))
            for line in page.logs where seen.insert(line.id).inserted { lines.append(line) }
            cursor = page.nextCursor ?? ""
        } while !cursor.isEmpty
        return lines.sorted { $0.id < $1.id }
    }

    static func stream(_ lines: [ExecutionLog], output: Output) throws {
        for line in lines {
            switch output.format {
            case .json: print(try line.jsonString())
            case .yaml: print("---\n" + (try output.structured(line)), terminator: "")
            case .table, .wide: print(Rendering.logLine(line, wide: output.wide))
            }
        }
        fflush(nil)
    }
}
