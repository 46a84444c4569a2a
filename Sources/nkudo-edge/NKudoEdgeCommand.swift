import ArgumentParser
import NKudoContract

/// `nkudo-edge`: the edge agent of n-kudo.
@main
struct NKudoEdgeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nkudo-edge",
        abstract: "The n-kudo edge agent: enrolls a host and runs microVM plans through Cloud Hypervisor.",
        discussion: """
            It talks to the control plane with the contract's generated client (binary protobuf
            heartbeats by default). This build carries the contract and its wire layer; the agent follows.
            """,
        version: NKudoVersion.current,
        subcommands: [Version.self]
    )

    /// `version`: prints the version.
    struct Version: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the version.")
        func run() {
            print(NKudoVersion.current)
        }
    }
}
