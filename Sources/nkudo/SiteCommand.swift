import ArgumentParser
import NKudoClient
import NKudoContract

/// `nkudo site`: the tenant's sites.
struct SiteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "site",
        abstract: "Create and list sites, and show a site's status.",
        subcommands: [Create.self, List.self, Status.self])

    /// `nkudo site create NAME`.
    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a site (OFFLINE until an agent enrolls).")

        @Argument(help: "Site name, unique within the tenant.")
        var name: String

        @Option(help: "ISO 3166-1 alpha-2 country code, e.g. DE.")
        var country: String?

        @Option(name: .customLong("external-key"), help: "Your own key for the site, unique within the tenant.")
        var externalKey: String?

        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let site = try await global.withSession { session in
                try await session.tenant.createSite(CreateSiteRequest(tenantId: try session.requireTenant(), name: name,
                                                                      externalKey: externalKey ?? "", locationCountryCode: country ?? ""))
            }
            try Output(format: global.output).emit(site) { _ in Rendering.siteDetails(site).render() }
        }
    }

    /// `nkudo site list`.
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the tenant's sites, newest first.")

        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let response = try await global.withSession { session in
                try await session.tenant.listSites(ListSitesRequest(tenantId: try session.requireTenant()))
            }
            try Output(format: global.output).emit(response) { wide in
                var table = Table([.init("id"), .init("name"), .init("state"), .init("country"), .init("last heartbeat"),
                                   .init("created"), .init("external key", wideOnly: true)])
                for site in response.sites {
                    table.append([site.id, site.name, Rendering.name(site.connectivityState), site.locationCountryCode ?? "",
                                  HumanFormat.relative(site.lastHeartbeatAt), HumanFormat.relative(site.createdAt), site.externalKey ?? ""])
                }
                return table.render(wide: wide)
            }
        }
    }

    /// `nkudo site status SITE`.
    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a site with its hosts, VMs and recent executions and log lines.")

        @Argument(help: "Site id or name.")
        var site: String

        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let status = try await global.withSession { session in
                try await session.tenant.getStatus(GetStatusRequest(siteId: try await session.siteID(site)))
            }
            try Output(format: global.output).emit(status) { wide in
                var text = status.site.map { Rendering.siteDetails($0).render() } ?? ""
                text += "\nHOSTS\n" + Rendering.hosts(status.hosts, wide: wide)
                text += "\nVMS\n" + Rendering.vms(status.vms, wide: wide)
                text += "\nRECENT EXECUTIONS\n" + Rendering.executions(status.recentExecutions, wide: wide)
                if !status.recentLogs.isEmpty {
                    text += "\nRECENT LOGS\n" + Rendering.logs(status.recentLogs.reversed(), wide: wide)
                }
                return text
            }
        }
    }
}
