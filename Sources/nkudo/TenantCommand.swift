import ArgumentParser
import NKudoClient
import NKudoContract

/// `nkudo tenant`: tenants (admin key).
struct TenantCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tenant",
        abstract: "Create and list tenants (needs the admin key).",
        subcommands: [Create.self, List.self])

    /// `nkudo tenant create SLUG --name NAME`.
    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a tenant.",
            discussion: "With --use the new tenant's id is stored in the current context (as its tenant-id), so that later commands act for it.")

        @Argument(help: "Unique short name of the tenant.")
        var slug: String

        @Option(help: "Display name.")
        var name: String

        @Option(help: "Primary region (default: eu-central-1).")
        var region: String?

        @Option(name: .customLong("retention-days"), help: "Days of data retention, at least 7 (default: 30).")
        var retentionDays: Int32?

        @Flag(help: "Store the tenant's id in the current context.")
        var use = false

        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let tenant = try await global.withSession { session in
                try await session.admin.createTenant(CreateTenantRequest(slug: slug, name: name, primaryRegion: region ?? "",
                                                                         dataRetentionDays: retentionDays ?? 0))
            }
            let output = Output(format: global.output)
            try output.emit(tenant) { _ in Rendering.tenant(tenant) }
            if use {
                let context = try global.config.updateSelectedContext { $0.tenantID = tenant.id }
                if !output.isStructured { print("tenant \(tenant.id) stored in context \(context)") }
            }
        }
    }

    /// `nkudo tenant list`.
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the tenants, newest first.")

        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let response = try await global.withSession { session in
                try await session.admin.listTenants(ListTenantsRequest())
            }
            try Output(format: global.output).emit(response) { wide in
                var table = Table([.init("id"), .init("slug"), .init("name"), .init("region"), .init("retention", wideOnly: true),
                                   .init("created")])
                for tenant in response.tenants {
                    table.append([tenant.id, tenant.slug, tenant.name, tenant.primaryRegion, "\(tenant.dataRetentionDays)d",
                                  HumanFormat.relative(tenant.createdAt)])
                }
                return table.render(wide: wide)
            }
        }
    }
}
