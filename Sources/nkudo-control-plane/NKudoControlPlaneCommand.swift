import ArgumentParser
import Foundation
import Logging
import NKudoContract
import NKudoControlPlane
import NKudoSQL
import NKudoStore

/// `nkudo-control-plane`: the multi-tenant control plane of n-kudo.
@main
struct NKudoControlPlaneCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nkudo-control-plane",
        abstract: "The n-kudo control plane: onboards edge hosts and hands out microVM plans over HTTPS.",
        discussion: """
            Every RPC of the contract in proto/ is served at its HTTP binding(s) and its Connect path, \
            as JSON and binary protobuf. Without DATABASE_URL the store is SQLite in NKUDO_DATA_DIR.
            """,
        version: NKudoVersion.current,
        subcommands: [Serve.self, Migrate.self, Routes.self, Version.self],
        defaultSubcommand: Serve.self
    )

    /// Runs the command with NIO's event loops as Swift Concurrency's executor
    /// (``ControlPlane/runTasksOnEventLoops()``), installed before any task starts, and large
    /// allocations on pages of their own (``ControlPlane/mapLargeAllocationsApart(environment:)``).
    static func main() async {
        ControlPlane.runTasksOnEventLoops()
        ControlPlane.mapLargeAllocationsApart(environment: ProcessInfo.processInfo.environment)
        await main(nil)
    }
}

/// Settings given as `--flag value` / `--flag=value`, one per environment variable of
/// ``ControlPlaneConfiguration/settings``.
struct SettingFlags: ParsableArguments {
    @Argument(parsing: .allUnrecognized, help: .hidden)
    var arguments: [String] = []

    /// The flags by environment name (`--flag value` or `--flag=value`; `--flag=` is an
    /// empty value); unknown flags and missing values are errors, and a flag never takes
    /// the next flag as its value.
    func values() throws -> [String: String] {
        let byFlag = Dictionary(uniqueKeysWithValues: ControlPlaneConfiguration.settings.map { ("--" + $0.flagName, $0.environmentName) })
        func flagName(_ argument: String) -> String { argument.firstIndex(of: "=").map { String(argument[..<$0]) } ?? argument }
        var values: [String: String] = [:]
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            let flag = flagName(argument)
            guard let name = byFlag[flag] else {
                throw ValidationError("unknown option '\(argument)'; see --help for the settings")
            }
            if let equals = argument.firstIndex(of: "=") {
                values[name] = String(argument[argument.index(after: equals)...])
            } else {
                guard index + 1 < arguments.count, byFlag[flagName(arguments[index + 1])] == nil else {
                    throw ValidationError("missing value for '\(argument)'")
                }
                index += 1
                values[name] = arguments[index]
            }
            index += 1
        }
        return values
    }

    /// The configuration: flags over environment over defaults.
    func configuration() throws -> ControlPlaneConfiguration {
        do {
            return try ControlPlaneConfiguration.resolve(flags: try values(), environment: ProcessInfo.processInfo.environment)
        } catch let error as ConfigurationError {
            throw ValidationError(error.description)
        }
    }

    static var settingsHelp: String {
        "Settings (flag, or environment variable; default):\n" + ControlPlaneConfiguration.settings.map { setting in
            "  --\(setting.flagName) (\(setting.environmentName); default \(setting.defaultDescription))\n      \(setting.help)"
        }.joined(separator: "\n")
    }
}

/// Bootstraps logging once, for the executable.
func makeLogger(level: Logger.Level) -> Logger {
    LoggingSystem.bootstrap { label in
        var handler = RequestLogHandler(writingTo: StreamLogHandler.standardError(label: label))
        handler.logLevel = level
        return handler
    }
    return Logger(label: "nkudo.control-plane")
}

extension NKudoControlPlaneCommand {
    /// `serve` (default): run the HTTPS API.
    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the HTTPS API (default).",
            discussion: SettingFlags.settingsHelp)

        @OptionGroup var settings: SettingFlags

        func validate() throws {
            _ = try settings.configuration()
        }

        func run() async throws {
            let configuration = try settings.configuration()
            let logger = makeLogger(level: configuration.logLevel)
            do {
                try await ControlPlane.serve(configuration: configuration, logger: logger) { line in
                    try? FileHandle.standardOutput.write(contentsOf: Data((line + "\n").utf8))
                }
            } catch let error as StoreError where error.code == .schemaBehind {
                throw ValidationError("\(error.message): run `nkudo-control-plane migrate` with the same DATABASE_URL first")
            }
        }
    }

    /// `migrate`: apply the embedded migrations.
    struct Migrate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Apply the store's migrations (idempotent; safe with several replicas).",
            discussion: SettingFlags.settingsHelp)

        @OptionGroup var settings: SettingFlags

        func run() async throws {
            let configuration = try settings.configuration()
            let logger = makeLogger(level: configuration.logLevel)
            let (store, description) = try ControlPlane.openStore(configuration, logger: logger)
            do {
                let applied = try await store.migrate()
                await store.close()
                print(applied.isEmpty ? "migrations: \(description) is up to date" : "migrations applied to \(description): \(applied.joined(separator: ", "))")
            } catch {
                await store.close()
                throw error
            }
        }
    }

    /// `routes`: lists the contract's HTTP routes.
    struct Routes: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the HTTP routes of the contract (method, path, caller, RPC).")
        func run() {
            for method in ContractRegistry.methods {
                for binding in method.bindings {
                    print("\(binding.method) \(binding.path) [\(method.caller.rawValue)] -> \(method.serviceName)/\(method.methodName)")
                }
                print("POST \(method.connectPath) [\(method.caller.rawValue)] (Connect)")
            }
        }
    }

    /// `version`: prints the version.
    struct Version: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the version.")
        func run() {
            print(NKudoVersion.current)
        }
    }
}
