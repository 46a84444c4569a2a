import ArgumentParser
import Foundation
import Logging
import NKudoContract
import NKudoEdge

extension NKudoEdgeCommand {
    /// `apply`: executes a local plan file without the control plane.
    struct Apply: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Execute a local plan JSON file through Cloud Hypervisor and print the result as JSON.",
            discussion: """
                The plan is the control plane's plan JSON (plan_id, execution_id, actions with action_id, type, \
                timeout, params). A blank execution_id becomes exec-<unix-nanoseconds>, blank action ids action-<n>. \
                Uses the same idempotency ledger as `run` (locked, so both may run at once). Exit 1 when an action fails.
                """)

        @Option(help: "Path of the plan JSON file.")
        var plan: String

        @Option(name: .customLong("state-dir"), help: "Directory of the agent's state (state.sqlite: the idempotency ledger).")
        var stateDirectory = "/var/lib/nkudo-edge/state"

        @Option(name: .customLong("pki-dir"), help: "Directory of the agent identity; no image may lie in it.")
        var pkiDirectory = "/var/lib/nkudo-edge/pki"

        @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
        var logLevel = "info"

        @OptionGroup(title: "Cloud Hypervisor") var provider: ProviderOptions

        func validate() throws {
            guard Logger.Level(rawValue: logLevel) != nil else {
                throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
            }
        }

        func run() async throws {
            let logger = CommonOptions.bootstrapLogging(level: Logger.Level(rawValue: logLevel) ?? .info)
            try await Self.reportingFailure {
                let leased = try loadPlan()
                let state: EdgeStateStore
                do {
                    state = try await EdgeStateStore.open(directory: stateDirectory, logger: logger)
                } catch {
                    throw CommandFailure("\(error)")
                }
                let vms = try provider.provider(protectedDirectories: [pkiDirectory, stateDirectory], logger: logger)
                let executor = PlanExecutor(provider: vms, ledger: state, logSink: nil, logger: logger)
                let report = await executor.execute(leased)
                print(try report.resultRequest.jsonString())
                if let failure = report.failure {
                    throw CommandFailure(failure)
                }
            }
        }

        private func loadPlan() throws -> LeasedPlan {
            guard let data = FileManager.default.contents(atPath: plan) else {
                throw CommandFailure("cannot read --plan \(plan)")
            }
            var leased: LeasedPlan
            do {
                leased = try LeasedPlan(jsonBytes: Array(data), options: JSONDecodingOptions(ignoreUnknownFields: true))
            } catch {
                throw CommandFailure("--plan \(plan) is not a plan: \(error)")
            }
            if leased.executionId.trimmingCharacters(in: .whitespaces).isEmpty {
                leased.executionId = "exec-\(UInt64(Date().timeIntervalSince1970 * 1e9))"
            }
            for index in leased.actions.indices where leased.actions[index].actionId.trimmingCharacters(in: .whitespaces).isEmpty {
                leased.actions[index].actionId = "action-\(index + 1)"
            }
            return leased
        }
    }
}
