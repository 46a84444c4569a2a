import ArgumentParser
import Foundation
import NKudoClient
import NKudoContract
import NKudoWire

/// `nkudo audit`: the tenant's audit events.
struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "List the tenant's audit events.",
        subcommands: [List.self])

    /// `nkudo audit list`.
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the tenant's audit events, newest first.")

        @Option(help: "Only this action (e.g. site.create), or a prefix ending in . (e.g. plan.).")
        var action: String?

        @Option(help: "Only events at or after this time: RFC 3339 or a duration ago (e.g. 1h).")
        var since: String?

        @Option(help: "Only events before this time: RFC 3339 or a duration ago.")
        var until: String?

        @Option(help: "Events per page (default: 100, at most 500).")
        var limit: Int32 = 0

        @Option(help: "The next-cursor a previous page printed.")
        var cursor: String?

        @OptionGroup var global: GlobalOptions

        func validate() throws {
            for (flag, value) in [("--since", since), ("--until", until)] {
                if let value, Self.time(value) == nil {
                    throw ValidationError("\(flag) must be an RFC 3339 time (2026-01-02T15:04:05Z) or a duration ago of at most 100 years (90m, 2h, 7d)")
                }
            }
        }

        /// RFC 3339 as given, or now minus a duration.
        static func time(_ text: String) -> String? {
            if (try? ProtoTimestamp(rfc3339: text)) != nil { return text }
            guard let ago = HumanFormat.parseDuration(text) else { return nil }
            return try? ProtoTimestamp(date: Date().addingTimeInterval(-Double(ago.components.seconds))).rfc3339()
        }

        func run() async throws {
            let response = try await global.withSession { session in
                try await session.tenant.listAuditEvents(ListAuditEventsRequest(
                    tenantId: try session.requireTenant(), action: action ?? "", since: since.flatMap(Self.time) ?? "",
                    until: until.flatMap(Self.time) ?? "", limit: limit, cursor: cursor ?? ""))
            }
            try Output(format: global.output).emit(response) { wide in
                var table = Table([.init("time"), .init("action"), .init("actor"), .init("resource"), .init("site", wideOnly: true),
                                   .init("request", wideOnly: true), .init("source ip", wideOnly: true), .init("metadata", wideOnly: true)])
                for event in response.events {
                    let actor = Rendering.name(event.actorType).lowercased() + (event.actorId.map { ":" + $0 } ?? "")
                    table.append([HumanFormat.relative(event.occurredAt), event.action, actor, "\(event.resourceType):\(event.resourceId)",
                                  event.siteId ?? "", event.requestId ?? "", event.sourceIp ?? "",
                                  event.metadataJson == "{}" ? "" : event.metadataJson])
                }
                return table.render(wide: wide) + (response.nextCursor.map { "more: --cursor \($0)\n" } ?? "")
            }
        }
    }
}
