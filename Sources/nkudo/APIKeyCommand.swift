import ArgumentParser
import NKudoClient
import NKudoContract

/// `nkudo apikey`: a tenant's API keys (admin key).
struct APIKeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apikey",
        abstract: "Create, list and revoke a tenant's API keys (needs the admin key; the tenant from --tenant or the context).",
        subcommands: [Create.self, List.self, Revoke.self])

    /// `nkudo apikey create [NAME]`.
    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create an API key; the secret is printed once.",
            discussion: "With --use the key is stored in the current context (as its api-key and tenant-id).")

        @Argument(help: "Key name (default: default).")
        var name: String?

        @Option(name: .customLong("expires-in"), help: "Lifetime, e.g. 30d or 12h (default: never expires).")
        var expiresIn: String?

        @Flag(help: "Store the key (and its tenant) in the current context.")
        var use = false

        @OptionGroup var global: GlobalOptions

        func validate() throws {
            if let expiresIn {
                guard let duration = HumanFormat.parseDuration(expiresIn), duration >= .seconds(1), duration <= .seconds(Int64(Int32.max)) else {
                    throw ValidationError("--expires-in must be a duration such as 30d, 12h or 90m")
                }
            }
        }

        func run() async throws {
            let seconds = expiresIn.flatMap(HumanFormat.parseDuration).map { Int32($0.components.seconds) } ?? 0
            let key = try await global.withSession { session in
                try await session.admin.createAPIKey(CreateAPIKeyRequest(tenantId: try session.requireTenant(), name: name ?? "",
                                                                         expiresInSeconds: seconds))
            }
            let output = Output(format: global.output)
            try output.emit(key) { _ in
                var details = Details()
                details.append("id", key.id)
                details.append("tenant", key.tenantId)
                details.append("name", key.name)
                details.append("expires", key.expiresAt.map { "\(HumanFormat.time($0)) (\(HumanFormat.relative($0)))" } ?? "never")
                details.append("api key", key.apiKey)
                return details.render() + "The key is shown only now; send it as X-API-Key (nkudo --api-key, NKUDO_API_KEY or --use).\n"
            }
            if use {
                let context = try global.config.updateSelectedContext {
                    $0.apiKey = key.apiKey
                    $0.tenantID = key.tenantId
                }
                if !output.isStructured { print("API key stored in context \(context)") }
            }
        }
    }

    /// `nkudo apikey list`.
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the tenant's API keys, newest first, revoked and expired ones too.")

        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let response = try await global.withSession { session in
                try await session.admin.listAPIKeys(ListAPIKeysRequest(tenantId: try session.requireTenant()))
            }
            try Output(format: global.output).emit(response) { wide in
                var table = Table([.init("id"), .init("name"), .init("status"), .init("created"), .init("expires"),
                                   .init("revoked", wideOnly: true), .init("tenant", wideOnly: true)])
                for key in response.apiKeys {
                    table.append([key.id, key.name, Rendering.keyStatus(key), HumanFormat.relative(key.createdAt),
                                  key.expiresAt.map { HumanFormat.relative($0) } ?? "never", HumanFormat.relative(key.revokedAt), key.tenantId])
                }
                return table.render(wide: wide)
            }
        }
    }

    /// `nkudo apikey revoke ID`.
    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke an API key: it is refused from now on.")

        @Argument(help: "The API key's id (nkudo apikey list).")
        var id: String

        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let key = try await global.withSession { session in
                try await session.admin.revokeAPIKey(RevokeAPIKeyRequest(tenantId: try session.requireTenant(), apiKeyId: id))
            }
            try Output(format: global.output).emit(key) { _ in
                "revoked API key \(key.id) (\(key.name)) at \(HumanFormat.time(key.revokedAt))\n"
            }
        }
    }
}
