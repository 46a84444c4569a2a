import ArgumentParser
import Foundation
import NKudoClient
import NKudoContract
import NKudoWire

/// Which config file and which context of it.
struct ConfigOptions: ParsableArguments {
    @Option(name: .customLong("config"), help: "Config file (default: NKUDO_CONFIG, else $XDG_CONFIG_HOME/nkudo/config.toml, else ~/.config/nkudo/config.toml).")
    var configPath: String?

    @Option(name: .customLong("context"), help: "Context of the config file to use (default: NKUDO_CONTEXT, else current-context).")
    var context: String?

    var environment: [String: String] { ProcessInfo.processInfo.environment }

    /// The config file's path.
    var path: String { ConfigFile.defaultPath(flag: configPath, environment: environment) }

    /// The config file (empty when there is none).
    func load() throws(ClientError) -> ConfigFile { try ConfigFile.load(path: path) }

    /// What to add to "no control plane URL" when the configuration is not what the user
    /// meant: `--config` names a file that does not exist, or current-context names no
    /// context (both read as an empty configuration, so flags alone still work).
    func hint(for config: ConfigFile) -> String {
        if let named = configPath, !named.isEmpty, !FileManager.default.fileExists(atPath: named) {
            return " (the config file \(named) given with --config does not exist)"
        }
        if let current = config.currentContext, config.context(named: current) == nil {
            return " (current-context \(current) is not a context of \(config.path))"
        }
        return ""
    }

    /// The context the command uses: `--context`, `NKUDO_CONTEXT`, else current-context.
    /// A context that is named explicitly must exist.
    func selectedContext(in config: ConfigFile) throws(ClientError) -> ConfigFile.Context? {
        if let name = context ?? environment["NKUDO_CONTEXT"].flatMap({ $0.isEmpty ? nil : $0 }) {
            guard let found = config.context(named: name) else {
                throw ClientError(.usage, "no context \(name) in \(config.path) (nkudo config get-contexts lists them)")
            }
            return found
        }
        return config.currentContext.flatMap { config.context(named: $0) }
    }
}

/// How the output looks.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table, wide, json, yaml
}

/// `--wire json|binary`.
enum WireChoice: String, ExpressibleByArgument, CaseIterable {
    case json, binary

    var format: WireFormat { self == .binary ? .binary : .json }
}

/// The options every command that talks to the control plane takes.
struct GlobalOptions: ParsableArguments {
    @OptionGroup var config: ConfigOptions

    @Option(help: "Control plane URL, https://host:port (default: NKUDO_URL, else the context's).")
    var url: String?

    @Option(name: .customLong("api-key"), help: "Tenant API key (default: NKUDO_API_KEY, else the context's).")
    var apiKey: String?

    @Option(name: .customLong("admin-key"), help: "Operator key for tenant and API key commands (default: NKUDO_ADMIN_KEY, else the context's).")
    var adminKey: String?

    @Option(help: "Tenant id (default: NKUDO_TENANT, else the context's).")
    var tenant: String?

    @Option(name: .customLong("ca-fingerprint"), help: "Pin the server's CA by SHA-256 fingerprint for this call (default: NKUDO_CA_FINGERPRINT, else the context's pinned CA).")
    var caFingerprint: String?

    @Option(name: .customLong("ca-file"), help: "Verify the server against this CA certificate (PEM) (default: NKUDO_CA_FILE).")
    var caFile: String?

    @Option(name: [.short, .customLong("output")], help: "Output: table, wide, json or yaml.")
    var output: OutputFormat = .table

    @Option(help: "Request and response encoding: json or binary (protobuf).")
    var wire: WireChoice = .json

    @Option(help: "Time limit of one request, e.g. 30s or 2m.")
    var timeout: String = "30s"

    func validate() throws {
        guard let duration = HumanFormat.parseDuration(timeout), duration >= .seconds(1) else {
            throw ValidationError("--timeout must be a duration from 1s to 100 years, e.g. 30s or 2m")
        }
    }

    /// The setting from the flag, else the environment variable.
    private func pick(_ flag: String?, _ variable: String) -> String? {
        if let flag, !flag.isEmpty { return flag }
        if let value = config.environment[variable], !value.isEmpty { return value }
        return nil
    }

    /// Connects (pinning the CA when only a fingerprint is given), runs `body`, disconnects.
    func withSession<T>(_ body: (Session) async throws -> T) async throws -> T {
        let session = try await Session.open(self)
        do {
            let result = try await body(session)
            await session.transport.shutdown()
            return result
        } catch {
            await session.transport.shutdown()
            throw error
        }
    }

    /// The connection settings: flags > environment > the context.
    func resolve() async throws(ClientError) -> (settings: ConnectionSettings, tenantID: String?) {
        let file = try config.load()
        let context = try config.selectedContext(in: file)
        guard let url = pick(url, "NKUDO_URL") ?? context?.url else {
            throw ClientError(.usage, "no control plane URL: give --url, set NKUDO_URL, or run nkudo login --url URL --ca-fingerprint HEX"
                              + config.hint(for: file))
        }
        _ = try ServerCAProbe.hostAndPort(url)
        let pem: String
        let fingerprint: String
        if let caFile = pick(caFile, "NKUDO_CA_FILE") {
            guard let text = try? String(contentsOfFile: caFile, encoding: .utf8) else {
                throw ClientError(.usage, "cannot read the CA file \(caFile)")
            }
            pem = text
            fingerprint = try ServerCAProbe.fingerprint(ofPEM: text)
        } else if let pinned = pick(caFingerprint, "NKUDO_CA_FINGERPRINT") {
            fingerprint = try ServerCAProbe.normalizedFingerprint(pinned)
            pem = try await ServerCAProbe.pinnedCA(url: url, fingerprint: fingerprint)
        } else if let context, let stored = try file.caPEM(of: context) {
            pem = stored
            if let pinned = context.caFingerprint {
                fingerprint = pinned
            } else {
                fingerprint = try ServerCAProbe.fingerprint(ofPEM: stored)
            }
        } else {
            throw ClientError(.connection, "no CA is pinned for \(url): run nkudo login --url \(url) --ca-fingerprint HEX "
                              + "(the fingerprint is in the control plane's log and in every enrollment token), or give --ca-fingerprint")
        }
        let seconds = Int(HumanFormat.parseDuration(timeout)?.components.seconds ?? 30)
        let settings = ConnectionSettings(baseURL: url, caCertificatePEM: pem, caFingerprint: fingerprint,
                                          apiKey: pick(apiKey, "NKUDO_API_KEY") ?? context?.apiKey,
                                          adminKey: pick(adminKey, "NKUDO_ADMIN_KEY") ?? context?.adminKey,
                                          format: wire.format, timeoutSeconds: max(1, seconds))
        return (settings, pick(tenant, "NKUDO_TENANT") ?? context?.tenantID)
    }
}

/// A connection to the control plane for one command: the generated clients over the
/// CLI's transport, and the lookups commands share.
struct Session {
    let transport: APITransport
    let tenantID: String?
    let output: Output

    static func open(_ options: GlobalOptions) async throws(ClientError) -> Session {
        let (settings, tenantID) = try await options.resolve()
        return Session(transport: try APITransport(settings: settings), tenantID: tenantID, output: Output(format: options.output))
    }

    var admin: AdminServiceClient<APITransport> { AdminServiceClient(transport: transport) }
    var tenant: TenantServiceClient<APITransport> { TenantServiceClient(transport: transport) }
    var settings: ConnectionSettings { transport.settings }

    /// The tenant id, which routes under `/tenants/{tenant_id}` need.
    func requireTenant() throws(ClientError) -> String {
        guard let tenantID, !tenantID.isEmpty else {
            throw ClientError(.usage, "no tenant id: give --tenant, set NKUDO_TENANT, or store it in the context "
                              + "(nkudo login --tenant ID, or nkudo tenant create --use)")
        }
        return tenantID
    }

    /// A site id from a site id or name.
    func siteID(_ reference: String) async throws -> String {
        if Self.isUUID(reference) { return reference.lowercased() }
        let sites = try await tenant.listSites(ListSitesRequest(tenantId: try requireTenant())).sites
        guard let site = sites.first(where: { $0.name == reference }) else {
            throw ClientError(.notFound, "site \(reference) not found")
        }
        return site.id
    }

    /// A VM of the site from its id or name (a live VM before a deleted one of the same name).
    func vm(_ reference: String, siteID: String) async throws -> MicroVM {
        let vms = try await tenant.listMicroVMs(ListMicroVMsRequest(siteId: siteID)).vms
        let matches = vms.filter { $0.id == reference.lowercased() || $0.name == reference }
        guard let vm = matches.first(where: { $0.state != .deleted }) ?? matches.first else {
            throw ClientError(.notFound, "vm \(reference) not found")
        }
        return vm
    }

    /// Whether `text` is a dashed UUID.
    static func isUUID(_ text: String) -> Bool { UUID(uuidString: text) != nil }
}

/// `--site SITE` (id or name), with NKUDO_SITE as its default.
struct SiteOption: ParsableArguments {
    @Option(help: "Site id or name (default: NKUDO_SITE).")
    var site: String?

    func reference() throws(ClientError) -> String {
        if let site, !site.isEmpty { return site }
        if let value = ProcessInfo.processInfo.environment["NKUDO_SITE"], !value.isEmpty { return value }
        throw ClientError(.usage, "which site? give --site SITE (an id or a name) or set NKUDO_SITE")
    }
}

extension ConfigOptions {
    /// Changes the selected context (`--context`, NKUDO_CONTEXT, else current-context) and
    /// saves the file; returns the context's name.
    func updateSelectedContext(_ change: (inout ConfigFile.Context) -> Void) throws(ClientError) -> String {
        var file = try load()
        guard var context = try selectedContext(in: file) else {
            throw ClientError(.usage, "--use needs a context to store into: run nkudo login --url URL --ca-fingerprint HEX first")
        }
        change(&context)
        file.set(context)
        try file.save()
        return context.name
    }
}
