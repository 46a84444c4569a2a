import ArgumentParser
import NKudoClient

/// `nkudo config`: the contexts of the config file, as kubectl's.
struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "List, switch and delete the contexts of the config file.",
        subcommands: [GetContexts.self, UseContext.self, CurrentContext.self, DeleteContext.self])

    /// `nkudo config get-contexts`.
    struct GetContexts: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "get-contexts", abstract: "List the contexts (* marks the current one); keys are never printed.")

        @OptionGroup var config: ConfigOptions

        func run() throws {
            let file = try config.load()
            var table = Table([.init("current"), .init("name"), .init("url"), .init("tenant"), .init("credentials"), .init("ca")])
            for context in file.contexts {
                let credentials = [context.adminKey.map { _ in "admin-key" }, context.apiKey.map { _ in "api-key" }].compactMap { $0 }
                table.append([context.name == file.currentContext ? "*" : "", context.name, context.url ?? "", context.tenantID ?? "",
                              credentials.joined(separator: ","), context.caFingerprint.map { "sha256:" + $0.prefix(16) + "…" } ?? ""])
            }
            print(table.render(wide: false), terminator: "")
        }
    }

    /// `nkudo config use-context NAME`.
    struct UseContext: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "use-context", abstract: "Make a context the current one.")

        @Argument(help: "The context's name.")
        var name: String

        @OptionGroup var config: ConfigOptions

        func run() throws {
            var file = try config.load()
            guard file.context(named: name) != nil else {
                throw ClientError(.notFound, "no context \(name) in \(file.path) (nkudo config get-contexts lists them)")
            }
            file.currentContext = name
            try file.save()
            print("current context: \(name)")
        }
    }

    /// `nkudo config current-context`.
    struct CurrentContext: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "current-context", abstract: "Print the current context's name.")

        @OptionGroup var config: ConfigOptions

        func run() throws {
            let file = try config.load()
            guard let current = file.currentContext else {
                throw ClientError(.usage, "no current context in \(file.path): run nkudo login --url URL --ca-fingerprint HEX")
            }
            print(current)
        }
    }

    /// `nkudo config delete-context NAME`.
    struct DeleteContext: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "delete-context", abstract: "Delete a context and its keys from the config file.")

        @Argument(help: "The context's name.")
        var name: String

        @OptionGroup var config: ConfigOptions

        func run() throws {
            var file = try config.load()
            guard file.context(named: name) != nil else {
                throw ClientError(.notFound, "no context \(name) in \(file.path)")
            }
            file.contexts.removeAll { $0.name == name }
            if file.currentContext == name { file.currentContext = nil }
            try file.save()
            print("deleted context \(name)")
        }
    }
}
