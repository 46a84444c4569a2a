import ArgumentParser
import NKudoClient
import NKudoContract

/// `nkudo image`: what the hosts of a site can run.
struct ImageCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image",
        abstract: "List the images the hosts of a site can give their VMs.",
        subcommands: [List.self])

    /// `nkudo image list --site SITE`.
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List each host's images (disks, kernels, initrds), as its agent reported them.")

        @OptionGroup var site: SiteOption
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let response = try await global.withSession { session in
                try await session.tenant.listSiteImages(ListSiteImagesRequest(siteId: try await session.siteID(try site.reference())))
            }
            try Output(format: global.output).emit(response) { wide in
                var table = Table([.init("host"), .init("state"), .init("name"), .init("kind"), .init("size"), .init("digest", wideOnly: true),
                                   .init("host id", wideOnly: true)])
                for host in response.hosts {
                    for image in host.images {
                        table.append([host.hostname, Rendering.name(host.agentState), image.name, Rendering.name(image.kind),
                                      HumanFormat.bytes(image.sizeBytes), image.digest, host.hostId])
                    }
                }
                return table.render(wide: wide)
            }
        }
    }
}
