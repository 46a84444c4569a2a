import ArgumentParser
import Foundation
import NKudoClient
import NKudoContract

/// `nkudo login`: pin a control plane's CA and store a context.
struct LoginCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "login",
        abstract: "Pin a control plane's CA by fingerprint and save a context with its URL and credentials.",
        discussion: """
            Connects to --url, checks that the server's certificate chain contains a CA with the SHA-256 fingerprint \
            --ca-fingerprint which issued the server's certificate (the control plane prints it at start; every \
            enrollment token carries it), and stores that CA next to the config file. Later commands verify the server \
            against the stored CA only. The credentials given are checked before anything is saved; keys can come from \
            NKUDO_API_KEY and NKUDO_ADMIN_KEY instead of flags. The context becomes the current one.
            """)

    @Option(help: "Control plane URL, https://host:port.")
    var url: String

    @Option(name: .customLong("ca-fingerprint"), help: "SHA-256 fingerprint of the control plane's CA (64 hex digits, optionally sha256: and colons).")
    var caFingerprint: String

    @Option(name: .customLong("api-key"), help: "Tenant API key to store (default: NKUDO_API_KEY).")
    var apiKey: String?

    @Option(name: .customLong("admin-key"), help: "Operator key to store (default: NKUDO_ADMIN_KEY).")
    var adminKey: String?

    @Option(help: "Tenant id to store (default: NKUDO_TENANT).")
    var tenant: String?

    @Option(name: .customLong("config"), help: "Config file (default: NKUDO_CONFIG, else $XDG_CONFIG_HOME/nkudo/config.toml, else ~/.config/nkudo/config.toml).")
    var configPath: String?

    @Option(name: .customLong("context"), help: "Name of the context to save (default: the current context's name, else default; another URL than the current context's needs it, so that its keys are not replaced by accident).")
    var context: String?

    @Option(help: "Request and response encoding of the credential check: json or binary.")
    var wire: WireChoice = .json

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        func pick(_ flag: String?, _ variable: String) -> String? {
            flag.flatMap { $0.isEmpty ? nil : $0 } ?? environment[variable].flatMap { $0.isEmpty ? nil : $0 }
        }
        let fingerprint = try ServerCAProbe.normalizedFingerprint(caFingerprint)
        _ = try ServerCAProbe.hostAndPort(url)
        if let context, context.trimmingCharacters(in: .whitespaces).isEmpty {
            throw ClientError(.usage, "--context needs a name")
        }
        var file = try ConfigFile.load(path: ConfigFile.defaultPath(flag: configPath, environment: environment))
        let name = context ?? file.currentContext ?? "default"
        // Logging in to another control plane without naming a context used to replace the
        // current one, dropping its keys (an API key is shown only once, when it is made).
        if context == nil, let current = file.context(named: name), let currentURL = current.url,
           currentURL != ConnectionSettings(baseURL: url, caCertificatePEM: "").baseURL,
           current.apiKey != nil || current.adminKey != nil || current.tenantID != nil {
            throw ClientError(.usage, "the current context \"\(name)\" is for \(currentURL) and holds credentials; "
                              + "give --context NAME to save \(url) as another context, or --context \(name) to replace it")
        }
        let pem = try await ServerCAProbe.pinnedCA(url: url, fingerprint: fingerprint)
        let apiKey = pick(apiKey, "NKUDO_API_KEY")
        let adminKey = pick(adminKey, "NKUDO_ADMIN_KEY")
        let tenantID = pick(tenant, "NKUDO_TENANT")
        let settings = ConnectionSettings(baseURL: url, caCertificatePEM: pem, caFingerprint: fingerprint,
                                          apiKey: apiKey, adminKey: adminKey, format: wire.format)
        try await Self.check(settings: settings, tenantID: tenantID)

        var entry = file.context(named: name) ?? ConfigFile.Context(name: name)
        if entry.url != settings.baseURL {
            entry = ConfigFile.Context(name: name)
        }
        entry.url = settings.baseURL
        entry.caFingerprint = fingerprint
        entry.caFile = try file.storeCA(pem: pem, fingerprint: fingerprint)
        if let apiKey { entry.apiKey = apiKey }
        if let adminKey { entry.adminKey = adminKey }
        if let tenantID { entry.tenantID = tenantID }
        file.set(entry)
        file.currentContext = name
        try file.save()
        var checked: [String] = []
        if adminKey != nil { checked.append("admin key") }
        if apiKey != nil { checked.append(tenantID == nil ? "API key (not checked: no tenant id)" : "API key") }
        print("context \(name): \(settings.baseURL), CA sha256:\(fingerprint) pinned"
              + (checked.isEmpty ? "" : "; \(checked.joined(separator: ", ")) stored"))
        print("saved in \(file.path) (current context)")
    }

    /// Tries the credentials once, so a typo is found now rather than at the next command.
    static func check(settings: ConnectionSettings, tenantID: String?) async throws {
        let transport = try APITransport(settings: settings)
        do {
            if settings.adminKey != nil {
                _ = try await AdminServiceClient(transport: transport).listTenants(ListTenantsRequest())
            }
            if settings.apiKey != nil, let tenantID {
                _ = try await TenantServiceClient(transport: transport).listSites(ListSitesRequest(tenantId: tenantID))
            }
            await transport.shutdown()
        } catch {
            await transport.shutdown()
            throw error
        }
    }
}
