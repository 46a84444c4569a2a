import ArgumentParser
import NKudoClient
import NKudoContract

/// `nkudo host`: the hosts of a site.
struct HostCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "host",
        abstract: "List and retire the hosts of a site.",
        subcommands: [List.self, Retire.self])

    /// `nkudo host list --site SITE`.
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a site's hosts with their agents' state, by hostname.")

        @OptionGroup var site: SiteOption
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let response = try await global.withSession { session in
                try await session.tenant.listHosts(ListHostsRequest(siteId: try await session.siteID(try site.reference())))
            }
            try Output(format: global.output).emit(response) { wide in Rendering.hosts(response.hosts, wide: wide) }
        }
    }

    /// `nkudo host retire HOST --site SITE`.
    struct Retire: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Retire a host: its agent's credentials stop working and its plans go to the site's other agents.")

        @Argument(help: "Host id or hostname.")
        var host: String

        @OptionGroup var site: SiteOption
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let response = try await global.withSession { session in
                let siteID = try await session.siteID(try site.reference())
                let hosts = try await session.tenant.listHosts(ListHostsRequest(siteId: siteID)).hosts
                guard let match = hosts.first(where: { $0.id == host.lowercased() || $0.hostname == host }) else {
                    throw ClientError(.notFound, "host \(host) not found")
                }
                return try await session.tenant.retireHost(RetireHostRequest(siteId: siteID, hostId: match.id))
            }
            try Output(format: global.output).emit(response) { _ in
                "retired host \(response.hostId) (agent \(response.agentId)); \(response.releasedPlans) plan(s) released\n"
            }
        }
    }
}
