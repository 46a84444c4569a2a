import ArgumentParser
import NKudoContract

/// `nkudo-control-plane`: the multi-tenant control plane of n-kudo.
@main
struct NKudoControlPlaneCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nkudo-control-plane",
        abstract: "The n-kudo control plane: onboards edge hosts and hands out microVM plans over HTTPS.",
        discussion: """
            The HTTPS API serves every RPC of the contract in proto/ as JSON and binary protobuf.
            This build carries the contract and its wire layer; the server follows.
            """,
        version: NKudoVersion.current,
        subcommands: [Version.self, Routes.self]
    )

    /// `version`: prints the version.
    struct Version: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the version.")
        func run() {
            print(NKudoVersion.current)
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
}
