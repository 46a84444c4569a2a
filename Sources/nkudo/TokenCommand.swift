import ArgumentParser
import NKudoClient
import NKudoContract

/// `nkudo token`: enrollment tokens.
struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Issue one-time enrollment tokens for hosts.",
        subcommands: [Create.self])

    /// `nkudo token create --site SITE`.
    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Issue a one-time enrollment token for a site and print the nkudo-edge enroll line that uses it.",
            discussion: """
                The enroll line passes the token in NKUDO_ENROLL_TOKEN (not on the command line, where other users could \
                see it) and pins the control plane's CA with --ca-fingerprint.
                """)

        @OptionGroup var site: SiteOption

        @Option(name: .customLong("expires-in"), help: "Token lifetime, e.g. 15m or 1h (default: the server's, 15 minutes).")
        var expiresIn: String?

        @OptionGroup var global: GlobalOptions

        func validate() throws {
            if let expiresIn {
                guard let duration = HumanFormat.parseDuration(expiresIn), duration >= .seconds(1), duration <= .seconds(Int64(Int32.max)) else {
                    throw ValidationError("--expires-in must be a duration such as 15m or 1h")
                }
            }
        }

        func run() async throws {
            let seconds = expiresIn.flatMap(HumanFormat.parseDuration).map { Int32($0.components.seconds) } ?? 0
            let (token, url) = try await global.withSession { session in
                let siteID = try await session.siteID(try site.reference())
                return (try await session.tenant.issueEnrollmentToken(IssueEnrollmentTokenRequest(
                    tenantId: try session.requireTenant(), siteId: siteID, expiresInSeconds: seconds)), session.settings.baseURL)
            }
            try Output(format: global.output).emit(token) { _ in
                var details = Details()
                details.append("token", token.token)
                details.append("token id", token.tokenId)
                details.append("site", token.siteId)
                details.append("expires", "\(HumanFormat.time(token.expiresAt)) (\(HumanFormat.relative(token.expiresAt)))")
                details.append("ca fingerprint", "sha256:" + token.caFingerprintSha256)
                return details.render() + "\nEnroll a host of the site with (once, before the token expires):\n"
                    + Rendering.enrollLine(token: token.token, url: url, fingerprint: token.caFingerprintSha256) + "\n"
            }
        }
    }
}
