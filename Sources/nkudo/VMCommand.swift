import ArgumentParser
import Foundation
import NKudoClient
import NKudoContract

/// `nkudo vm`: the microVMs of a site.
struct VMCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vm",
        abstract: "List and show a site's microVMs and read their consoles (create, start, stop and delete them with nkudo plan apply).",
        subcommands: [List.self, Get.self, Console.self])

    /// `nkudo vm list --site SITE`.
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a site's microVMs, most recently updated first.")

        @OptionGroup var site: SiteOption
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let response = try await global.withSession { session in
                try await session.tenant.listMicroVMs(ListMicroVMsRequest(siteId: try await session.siteID(try site.reference())))
            }
            try Output(format: global.output).emit(response) { wide in Rendering.vms(response.vms, wide: wide) }
        }
    }

    /// `nkudo vm get VM --site SITE`.
    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one microVM.")

        @Argument(help: "VM id or name.")
        var vm: String

        @OptionGroup var site: SiteOption
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let found = try await global.withSession { session in
                let siteID = try await session.siteID(try site.reference())
                let vmID = Session.isUUID(vm) ? vm.lowercased() : try await session.vm(vm, siteID: siteID).id
                return try await session.tenant.getMicroVM(GetMicroVMRequest(siteId: siteID, vmId: vmID))
            }
            try Output(format: global.output).emit(found) { _ in Rendering.vmDetails(found).render() }
        }
    }

    /// `nkudo vm console VM --site SITE`.
    struct Console: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the last lines of a microVM's serial console, as its agent last shipped them.")

        @Argument(help: "VM id or name.")
        var vm: String

        @OptionGroup var site: SiteOption
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let console = try await global.withSession { session in
                let siteID = try await session.siteID(try site.reference())
                let vmID = Session.isUUID(vm) ? vm.lowercased() : try await session.vm(vm, siteID: siteID).id
                return try await session.tenant.getMicroVMConsole(GetMicroVMConsoleRequest(siteId: siteID, vmId: vmID))
            }
            try Output(format: global.output).emit(console) { _ in
                guard !console.console.isEmpty else { return "(no console output shipped yet)\n" }
                // The guest's own bytes: its terminal sequences are shown, not played on ours.
                let text = TerminalText.escaped(console.console.replacingOccurrences(of: "\r", with: ""), keeping: ["\n", "\t"])
                return text.hasSuffix("\n") ? text : text + "\n"
            }
        }
    }
}
