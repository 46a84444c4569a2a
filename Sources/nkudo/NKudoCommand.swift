import ArgumentParser
import Foundation
import NKudoClient
import NKudoContract

/// `nkudo`: the operators' CLI of n-kudo.
struct NKudoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nkudo",
        abstract: "Operate an n-kudo control plane: tenants, API keys, sites, enrollment tokens, hosts, VMs, plans, logs and audit events.",
        discussion: """
            Connection settings come from flags, then the environment (NKUDO_URL, NKUDO_API_KEY, NKUDO_ADMIN_KEY, \
            NKUDO_TENANT, NKUDO_CONTEXT, NKUDO_CONFIG, NKUDO_CA_FINGERPRINT, NKUDO_CA_FILE), then the current context \
            of the config file ($XDG_CONFIG_HOME/nkudo/config.toml, by default ~/.config/nkudo/config.toml). The server \
            is always verified against a pinned CA: `nkudo login --url URL --ca-fingerprint HEX` pins it once.

            Exit status:
              0  success
              1  the server refused the request (400, 409, 5xx) or answered something undecodable
              2  usage: a bad flag or argument, a missing setting, a bad config file
              3  connection: the server cannot be reached, or its TLS identity is not the pinned CA (or none is pinned)
              4  authentication: the key was refused (401, e.g. revoked or expired) or may not do this (403)
              5  not found: no such tenant, site, VM, plan, execution or key (404)
              6  a plan ended FAILED or CANCELLED (plan apply --wait, plan get --wait)
              7  --wait ran out of time before the plan was done
            Errors are one line on stderr: `error: MESSAGE (HTTP STATUS CODE, request REQUEST-ID)`.
            """,
        version: NKudoVersion.current,
        subcommands: [
            LoginCommand.self, ConfigCommand.self, TenantCommand.self, APIKeyCommand.self, SiteCommand.self,
            TokenCommand.self, HostCommand.self, VMCommand.self, ImageCommand.self, PlanCommand.self,
            LogsCommand.self, AuditCommand.self, VersionCommand.self,
        ]
    )
}

/// The process entry: parses, runs, and turns every failure into one line on stderr and
/// the documented exit status.
@main
enum NKudoMain {
    static func main() async {
        let status: Int32
        do {
            var command = try NKudoCommand.parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            status = 0
        } catch let error as ClientError {
            printError(error.description)
            status = error.kind.exitCode
        } catch {
            let code = NKudoCommand.exitCode(for: error)
            if code == .success {
                let message = NKudoCommand.fullMessage(for: error)
                if !message.isEmpty { print(message) }
                status = 0
            } else if code == .validationFailure {
                let message = NKudoCommand.message(for: error).split(whereSeparator: \.isNewline).first.map(String.init) ?? "invalid usage"
                printError("\(message.hasPrefix("Error: ") ? String(message.dropFirst(7)) : message) (see --help)")
                status = ClientError.Kind.usage.exitCode
            } else {
                let message = NKudoCommand.message(for: error)
                if !message.isEmpty { printError(message) }
                status = code.rawValue
            }
        }
        fflush(nil)
        exit(status)
    }

    static func printError(_ line: String) {
        try? FileHandle.standardError.write(contentsOf: Data("error: \(TerminalText.escaped(line))\n".utf8))
    }
}

/// `nkudo version`.
struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "version", abstract: "Print the version.")

    func run() {
        print(NKudoVersion.current)
    }
}
