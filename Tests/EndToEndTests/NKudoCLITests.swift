import ControlPlaneTestSupport
import Foundation
import NKudoContract
import NKudoControlPlane
import NKudoPKI
import Testing

/// The `nkudo` binary as an operator runs it, against a real control plane over HTTPS:
/// pinning, the operator and tenant flows, plans with a running agent, output formats,
/// and bad input (one line on stderr, the documented exit status).
@Suite("nkudo command line", .serialized)
struct NKudoCLITests {
    /// A home directory of the test's own, so the config file is the test's.
    struct CLI {
        let root: String
        let harness: ControlPlaneHarness

        init(_ harness: ControlPlaneHarness) throws {
            self.harness = harness
            root = "/tmp/nkcli-\(UUID().uuidString.prefix(8))"
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        }

        static var binary: String {
            URL(fileURLWithPath: try! AgentRig.fakeVMM()).deletingLastPathComponent().appendingPathComponent("nkudo").path
        }

        var configPath: String { root + "/.config/nkudo/config.toml" }

        var fingerprint: String {
            get throws { try Certificate(pem: harness.pki.caCertificatePEM).sha256Fingerprint }
        }

        func run(_ arguments: [String], environment: [String: String] = [:]) async throws -> EdgeCLITests.Outcome {
            var base = ["HOME": root, "XDG_CONFIG_HOME": root + "/.config"]
            for name in ["NKUDO_URL", "NKUDO_API_KEY", "NKUDO_ADMIN_KEY", "NKUDO_TENANT", "NKUDO_CONTEXT", "NKUDO_CONFIG",
                         "NKUDO_CA_FINGERPRINT", "NKUDO_CA_FILE", "NKUDO_SITE"] {
                base[name] = ""
            }
            return await EdgeCLITests.finish(try EdgeCLITests.launch(arguments, environment: base.merging(environment) { _, new in new },
                                                                     executable: Self.binary))
        }

        /// `nkudo login` with the harness's URL and CA fingerprint.
        func login(_ extra: [String] = [], environment: [String: String] = [:]) async throws {
            let outcome = try await run(["login", "--url", harness.baseURL, "--ca-fingerprint", "sha256:" + (try fingerprint)] + extra,
                                        environment: environment)
            #expect(outcome.status == 0, "login: \(outcome.stderr)")
        }

        func cleanUp() { try? FileManager.default.removeItem(atPath: root) }
    }

    /// The failure shape of every command: the status, one `error: …` line, no trace.
    static func expectFailure(_ outcome: EdgeCLITests.Outcome, status: Int32, _ fragment: String,
                              sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(outcome.status == status, "exit \(outcome.status), stderr: \(outcome.stderr)", sourceLocation: sourceLocation)
        let lines = outcome.stderr.split(separator: "\n")
        #expect(lines.count == 1, "one line on stderr: \(outcome.stderr)", sourceLocation: sourceLocation)
        #expect(outcome.stderr.hasPrefix("error: "), "\(outcome.stderr)", sourceLocation: sourceLocation)
        #expect(outcome.stderr.contains(fragment), "expected \(fragment) in: \(outcome.stderr)", sourceLocation: sourceLocation)
        #expect(!outcome.stderr.contains("Fatal error") && !outcome.stderr.contains("Stack dump"), sourceLocation: sourceLocation)
    }

    static func decode<M: ProtoMessage>(_ type: M.Type, _ outcome: EdgeCLITests.Outcome) throws -> M {
        #expect(outcome.status == 0, "\(outcome.stderr)")
        return try M(jsonString: outcome.stdout)
    }

    @Test("login pins the CA by fingerprint; a wrong fingerprint, another CA, no pin, no URL, a dead server, a bad flag each fail with one line")
    func loginAndBadInput() async throws {
        try await ControlPlaneHarness.withFleet { harness, fleet in
            let cli = try CLI(harness)
            defer { cli.cleanUp() }
            Self.expectFailure(try await cli.run(["site", "list"]), status: 2, "no control plane URL")
            Self.expectFailure(try await cli.run(["site", "list", "--url", harness.baseURL]), status: 3, "no CA is pinned")
            Self.expectFailure(try await cli.run(["site", "list", "--bogus"]), status: 2, "--bogus")
            Self.expectFailure(try await cli.run(["frobnicate"]), status: 2, "frobnicate")
            // A port past 65535 wrapped around to another port (99999 reached 34463); a query went to the server as a path.
            Self.expectFailure(try await cli.run(["site", "list", "--url", "https://127.0.0.1:99999", "--ca-fingerprint", "sha256:00"]),
                               status: 2, "port must be 1 to 65535, not 99999")
            Self.expectFailure(try await cli.run(["site", "list", "--url", harness.baseURL + "?x=1", "--ca-fingerprint", "sha256:00"]),
                               status: 2, "without a query")
            for flags in [["--vcpus", "-1"], ["--vcpus", "100000"], ["--memory", "1e12G"]] {
                let outcome = try await cli.run(["plan", "apply", "--site", "s", "--create", "big"] + flags)
                #expect(outcome.status == 2, "\(flags): exit \(outcome.status), \(outcome.stderr)")
            }
            // Durations past 100 years trapped converting to milliseconds.
            for flags in [["site", "list", "--timeout", "1e20s"], ["token", "create", "--site", "s", "--expires-in", "9223372036854775807s"]] {
                let outcome = try await cli.run(flags + ["--url", harness.baseURL, "--ca-fingerprint", "sha256:00"])
                #expect(outcome.status == 2, "\(flags): exit \(outcome.status), \(outcome.stderr)")
            }
            Self.expectFailure(try await cli.run(["login", "--url", harness.baseURL, "--ca-fingerprint", "sha256:" + String(repeating: "0", count: 64)]),
                               status: 3, "not the server you pinned")
            #expect(!FileManager.default.fileExists(atPath: cli.configPath), "nothing is saved for a refused server")
            Self.expectFailure(try await cli.run(["login", "--url", harness.baseURL, "--ca-fingerprint", "xyz"]), status: 2, "SHA-256")
            Self.expectFailure(try await cli.run(["login", "--url", "http://127.0.0.1:\(harness.port)", "--ca-fingerprint", try cli.fingerprint]),
                               status: 2, "https://")
            Self.expectFailure(try await cli.run(["site", "list", "--url", "https://127.0.0.1:1", "--ca-fingerprint", try cli.fingerprint,
                                                  "--api-key", fleet.apiKey, "--tenant", fleet.tenant.id]),
                               status: 3, "cannot connect to https://127.0.0.1:1")
            let pinned = ["--url", harness.baseURL, "--ca-fingerprint", try cli.fingerprint]
            Self.expectFailure(try await cli.run(["site", "list"] + pinned), status: 2, "no tenant id")
            Self.expectFailure(try await cli.run(["site", "list", "--tenant", fleet.tenant.id] + pinned), status: 2, "needs an API key")
            Self.expectFailure(try await cli.run(["tenant", "list"] + pinned), status: 2, "needs the admin key")
            Self.expectFailure(try await cli.run(["site", "list", "-o", "xml"] + pinned), status: 2, "xml")
            let flagsOnly = try await cli.run(["site", "list", "--tenant", fleet.tenant.id, "--api-key", fleet.apiKey] + pinned)
            #expect(flagsOnly.status == 0 && flagsOnly.stdout.contains("zrh-1"), "settings from flags alone: \(flagsOnly.stderr)")
            let fromEnvironment = try await cli.run(["site", "list"], environment: [
                "NKUDO_URL": harness.baseURL, "NKUDO_CA_FINGERPRINT": try cli.fingerprint, "NKUDO_TENANT": fleet.tenant.id, "NKUDO_API_KEY": fleet.apiKey])
            #expect(fromEnvironment.status == 0 && fromEnvironment.stdout.contains("zrh-1"), "settings from the environment: \(fromEnvironment.stderr)")

            // Wrong credentials are found at login and nothing is stored.
            Self.expectFailure(try await cli.run(["login", "--url", harness.baseURL, "--ca-fingerprint", try cli.fingerprint,
                                                  "--api-key", "nk_wrong", "--tenant", fleet.tenant.id]),
                               status: 4, "invalid api key")
            #expect(!FileManager.default.fileExists(atPath: cli.configPath))
            Self.expectFailure(try await cli.run(["login", "--url", harness.baseURL, "--ca-fingerprint", try cli.fingerprint],
                                                 environment: ["NKUDO_ADMIN_KEY": "wrong"]),
                               status: 4, "invalid admin key")
            #expect(!FileManager.default.fileExists(atPath: cli.configPath))

            try await cli.login(["--tenant", fleet.tenant.id, "--context", "acme"], environment: ["NKUDO_API_KEY": fleet.apiKey])
            let attributes = try FileManager.default.attributesOfItem(atPath: cli.configPath)
            #expect((attributes[.posixPermissions] as? Int) == 0o600)
            let text = try String(contentsOfFile: cli.configPath, encoding: .utf8)
            #expect(text.contains("current-context = \"acme\"") && text.contains("api-key = \"\(fleet.apiKey)\""))
            let contexts = try await cli.run(["config", "get-contexts"])
            #expect(contexts.status == 0)
            #expect(contexts.stdout.contains("*        acme  \(harness.baseURL)"), "\(contexts.stdout)")
            #expect(!contexts.stdout.contains(fleet.apiKey), "keys are never printed")
            let sites = try await cli.run(["site", "list"])
            #expect(sites.status == 0 && sites.stdout.contains("zrh-1"), "\(sites.stderr)")

            // Another control plane (another CA) on the pinned context's CA: refused.
            let impostor = try await ControlPlaneHarness()
            let refused = try await cli.run(["site", "list", "--url", impostor.baseURL])
            await impostor.shutdown()
            Self.expectFailure(refused, status: 3, "not trusted by the pinned CA")
            // Logging in to another URL (here the same server by another name) without naming a context replaced the
            // current context and dropped its keys: refused now, nothing changed.
            let otherName = harness.baseURL.replacingOccurrences(of: "127.0.0.1", with: "localhost")
            Self.expectFailure(try await cli.run(["login", "--url", otherName, "--ca-fingerprint", try cli.fingerprint]),
                               status: 2, "give --context NAME to save")
            #expect(try String(contentsOfFile: cli.configPath, encoding: .utf8) == text)
            Self.expectFailure(try await cli.run(["login", "--url", harness.baseURL, "--ca-fingerprint", try cli.fingerprint, "--context", " "]),
                               status: 2, "--context needs a name")

            Self.expectFailure(try await cli.run(["site", "list", "--config", cli.configPath + ".typo"]), status: 2,
                               "(the config file \(cli.configPath).typo given with --config does not exist)")
            Self.expectFailure(try await cli.run(["config", "use-context", "nope"]), status: 5, "no context nope")
            Self.expectFailure(try await cli.run(["site", "list", "--context", "nope"]), status: 2, "no context nope")

            // A current-context that names no context is named in the error, not only "no control plane URL".
            try text.replacingOccurrences(of: "current-context = \"acme\"", with: "current-context = \"ghost\"")
                .write(toFile: cli.configPath, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: cli.configPath)
            Self.expectFailure(try await cli.run(["site", "list"]), status: 2, "(current-context ghost is not a context of ")
            try text.write(toFile: cli.configPath, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: cli.configPath)

            // A config file others can read is refused while it holds keys.
            try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: cli.configPath)
            Self.expectFailure(try await cli.run(["site", "list"]), status: 2, "chmod 600")
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: cli.configPath)
            try (text + "oops\n").write(toFile: cli.configPath, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: cli.configPath)
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false).count
            Self.expectFailure(try await cli.run(["site", "list"]), status: 2, "config.toml:\(lines):")
        }
    }

    @Test("--help on every command; the exit statuses are documented")
    func help() async throws {
        try await ControlPlaneHarness.withFleet { harness, _ in
            let cli = try CLI(harness)
            defer { cli.cleanUp() }
            let root = try await cli.run(["--help"])
            #expect(root.status == 0 && root.stdout.contains("Exit status:") && root.stdout.contains("7  --wait ran out of time"))
            let commands: [[String]] = [
                ["login"], ["config", "get-contexts"], ["config", "use-context"], ["config", "current-context"], ["config", "delete-context"],
                ["tenant", "create"], ["tenant", "list"], ["apikey", "create"], ["apikey", "list"], ["apikey", "revoke"],
                ["site", "create"], ["site", "list"], ["site", "status"], ["token", "create"], ["host", "list"], ["host", "retire"],
                ["vm", "list"], ["vm", "get"], ["vm", "console"], ["image", "list"], ["plan", "apply"], ["plan", "get"], ["plan", "list"],
                ["logs"], ["audit", "list"], ["version"],
            ]
            for command in commands {
                let outcome = try await cli.run(command + ["--help"])
                #expect(outcome.status == 0 && outcome.stdout.contains("USAGE: nkudo \(command.joined(separator: " "))"),
                        "\(command): \(outcome.stdout.prefix(200))")
            }

            // The README's option and exit status tables say what --help says.
            let readme = try String(contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appending(path: "README.md"), encoding: .utf8)
            let section = try #require(readme.components(separatedBy: "## CLI (`nkudo`)").last?.components(separatedBy: "\n## ").first)
            let documented = Set(section.split(separator: "\n").filter { $0.hasPrefix("| `--") }.flatMap { row in
                row.split(separator: "|")[0].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: ["`"]) }
            }.filter { $0.hasPrefix("--") })
            let help = try await cli.run(["site", "list", "--help"]).stdout
            let offered = Set(help.split(separator: "\n").compactMap { line -> String? in
                let words = line.trimmingCharacters(in: .whitespaces).split(separator: " ")
                guard words.first?.hasPrefix("-") == true else { return nil }
                return words.first { $0.hasPrefix("--") }.map { String($0.trimmingCharacters(in: [","])) }
            }).subtracting(["--help", "--version"])
            #expect(documented == offered, "README only: \(documented.subtracting(offered)), --help only: \(offered.subtracting(documented))")
            let collapsed = root.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
            let statuses = section.split(separator: "\n").filter { $0.hasPrefix("| ") && $0.dropFirst(2).first?.isNumber == true }
            #expect(statuses.count == 8)
            for row in statuses {
                let cells = row.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "`", with: "") }
                #expect(collapsed.contains("\(cells[0]) \(cells[1])"), "exit status \(cells[0]) in --help: \(cells[1])")
            }
        }
    }

    @Test("operator flow: tenant, API keys, site, token with the exact enroll line that enrolls, hosts; outputs; revoked and expired keys")
    func operatorFlow() async throws {
        try await ControlPlaneHarness.withFleet { harness, fleet in
            let cli = try CLI(harness)
            defer { cli.cleanUp() }
            try await cli.login(environment: ["NKUDO_ADMIN_KEY": harness.configuration.adminKey!])
            let tenant = try Self.decode(Tenant.self, try await cli.run(["tenant", "create", "cli-\(UUID().uuidString.prefix(6).lowercased())",
                                                                        "--name", "CLI Corp", "--use", "-o", "json"]))
            #expect(try String(contentsOfFile: cli.configPath, encoding: .utf8).contains("tenant-id = \"\(tenant.id)\""))
            let tenants = try await cli.run(["tenant", "list"])
            #expect(tenants.status == 0 && tenants.stdout.contains("CLI Corp") && tenants.stdout.contains(fleet.tenant.id), "\(tenants.stderr)")
            let created = try await cli.run(["apikey", "create", "ci", "--use"])
            #expect(created.status == 0 && created.stdout.contains("api key:") && created.stdout.contains("nk_"), "\(created.stderr)")
            let keys = try Self.decode(ListAPIKeysResponse.self, try await cli.run(["apikey", "list", "-o", "json"]))
            #expect(keys.apiKeys.map(\.name) == ["ci"])

            let site = try await cli.run(["site", "create", "edge-lab", "--country", "de"])
            #expect(site.status == 0 && site.stdout.contains("OFFLINE") && site.stdout.contains("DE"), "\(site.stderr)")
            let sites = try Self.decode(ListSitesResponse.self, try await cli.run(["site", "list", "-o", "json", "--wire", "binary"]))
            #expect(sites.sites.map(\.name) == ["edge-lab"])
            let yaml = try await cli.run(["site", "list", "-o", "yaml"])
            #expect(yaml.stdout.hasPrefix("sites:\n- id: \(sites.sites[0].id)\n"), "\(yaml.stdout)")
            let wide = try await cli.run(["site", "list", "-o", "wide"])
            let narrow = try await cli.run(["site", "list"])
            #expect(wide.stdout.contains("EXTERNAL KEY") && !narrow.stdout.contains("EXTERNAL KEY"))
            // A tenant's name with terminal sequences (OSC 52 sets the clipboard, CSI 2J clears
            // the screen, U+202E reverses what follows) is shown, not played, on the terminal.
            let hostile = "lab\u{1b}]52;c;cm0gLXJmIH4=\u{07}\u{1b}[2J\u{202e}"
            #expect(try await cli.run(["site", "create", hostile]).status == 0)
            let shown = try await cli.run(["site", "list"])
            #expect(!shown.stdout.unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x07 || $0.value == 0x202E }, "\(shown.stdout)")
            #expect(shown.stdout.contains(#"lab\x1b]52;c;cm0gLXJmIH4=\x07\x1b[2J\u{202e}"#), "\(shown.stdout)")
            let exact = try Self.decode(ListSitesResponse.self, try await cli.run(["site", "list", "-o", "json"]))
            #expect(exact.sites.contains { $0.name == hostile }, "JSON keeps the exact name")

            // The token's enroll line, exactly, and it works as printed.
            let token = try await cli.run(["token", "create", "--site", "edge-lab", "--expires-in", "10m"])
            #expect(token.status == 0, "\(token.stderr)")
            let secret = try #require(token.stdout.split(separator: "\n").first { $0.hasPrefix("token:") }?.split(separator: " ").last.map(String.init))
            let line = "NKUDO_ENROLL_TOKEN=\(secret) nkudo-edge enroll --control-plane \(harness.baseURL) --ca-fingerprint sha256:\(try cli.fingerprint)"
            #expect(token.stdout.split(separator: "\n").contains { $0 == line }, "\(token.stdout)")
            let words = line.split(separator: " ").map(String.init)
            let enrolled = await EdgeCLITests.finish(try EdgeCLITests.launch(
                Array(words.dropFirst(2)) + ["--hostname", "lab-1", "--pki-dir", cli.root + "/pki", "--state-dir", cli.root + "/state"],
                environment: ["NKUDO_ENROLL_TOKEN": secret]))
            #expect(enrolled.status == 0, "\(enrolled.stderr)")
            let hosts = try await cli.run(["host", "list", "--site", "edge-lab"])
            #expect(hosts.status == 0 && hosts.stdout.contains("lab-1"), "\(hosts.stdout)\(hosts.stderr)")
            let status = try await cli.run(["site", "status", "edge-lab"])
            #expect(status.status == 0 && status.stdout.contains("HOSTS") && status.stdout.contains("lab-1"), "\(status.stderr)")

            Self.expectFailure(try await cli.run(["site", "status", "no-such-site"]), status: 5, "site no-such-site not found")
            Self.expectFailure(try await cli.run(["host", "list", "--site", UUID().uuidString]), status: 5, "site not found (HTTP 404 not_found, request ")
            Self.expectFailure(try await cli.run(["site", "list", "--tenant", fleet.tenant.id]), status: 4, "tenant mismatch (HTTP 403")
            Self.expectFailure(try await cli.run(["token", "create"]), status: 2, "--site")

            // An expired key and a revoked key: 4, with the server's message and request id.
            let short = try Self.decode(CreateAPIKeyResponse.self, try await cli.run(["apikey", "create", "short", "--expires-in", "1s", "-o", "json"]))
            try await Task.sleep(for: .seconds(2))
            Self.expectFailure(try await cli.run(["site", "list", "--api-key", short.apiKey]), status: 4, "invalid api key (HTTP 401")
            let ci = try #require(keys.apiKeys.first)
            let revoked = try await cli.run(["apikey", "revoke", ci.id])
            #expect(revoked.status == 0 && revoked.stdout.contains("revoked API key \(ci.id)"), "\(revoked.stderr)")
            Self.expectFailure(try await cli.run(["site", "list"]), status: 4, "request ")
            let listed = try Self.decode(ListAPIKeysResponse.self, try await cli.run(["apikey", "list", "-o", "json"]))
            #expect(listed.apiKeys.first { $0.id == ci.id }?.revokedAt != nil)
            Self.expectFailure(try await cli.run(["apikey", "revoke", UUID().uuidString]), status: 5, "not found")
        }
    }

    @Test("plans with a running agent: apply --create --wait, get, list, VMs, console, logs (--follow), -f, audit, --wire binary")
    func plans() async throws {
        try await AgentRig.with(format: .binary, { $0.heartbeatInterval = .seconds(1) }) { harness, fleet, rig in
            try rig.start()
            let cli = try CLI(harness)
            defer { cli.cleanUp() }
            try await cli.login(["--tenant", fleet.tenant.id], environment: ["NKUDO_API_KEY": fleet.apiKey])
            let site = ["--site", fleet.site.name]
            let created = try Self.decode(Plan.self, try await cli.run(["plan", "apply", "--create", "web", "--vcpus", "2", "--memory", "256MiB",
                                                                         "--wait", "--wait-timeout", "60s", "-o", "json"] + site))
            #expect(created.status == .succeeded && created.executions.map(\.state) == [.succeeded])
            let vmID = try #require(created.executions.first?.vmId)

            let vms = try await cli.run(["vm", "list"] + site)
            #expect(vms.status == 0 && vms.stdout.contains(vmID) && vms.stdout.contains("256 MiB"), "\(vms.stdout)\(vms.stderr)")
            let vm = try await cli.run(["vm", "get", "web", "-o", "yaml"] + site)
            #expect(vm.status == 0 && vm.stdout.contains("name: web\n") && vm.stdout.contains("vcpu_count: 2\n"), "\(vm.stdout)\(vm.stderr)")

            let started = try await cli.run(["plan", "apply", "--start", "web", "--wait", "--wire", "binary"] + site)
            #expect(started.status == 0 && started.stdout.contains("SUCCEEDED"), "\(started.stdout)\(started.stderr)")
            let console = try await cli.run(["vm", "console", vmID] + site)
            #expect(console.status == 0, "\(console.stderr)")

            let plans = try Self.decode(ListPlansResponse.self, try await cli.run(["plan", "list", "-o", "json"] + site))
            #expect(plans.plans.count == 2 && plans.plans.last?.id == created.id)
            let got = try await cli.run(["plan", "get", created.id, "-o", "wide"])
            #expect(got.status == 0 && got.stdout.contains("SUCCEEDED") && got.stdout.contains("TOOK"), "\(got.stdout)\(got.stderr)")

            let execution = created.executions[0].id
            let logs = try await cli.run(["logs", execution])
            #expect(logs.status == 0 && logs.stdout.contains("action completed"), "\(logs.stdout)\(logs.stderr)")
            let followed = try await cli.run(["logs", execution, "--follow", "-o", "json"])
            #expect(followed.status == 0, "\(followed.stderr)")
            let lines = try followed.stdout.split(separator: "\n").map { try ExecutionLog(jsonString: String($0)) }
            #expect(!lines.isEmpty && lines.allSatisfy { $0.executionId == execution || $0.executionId.isEmpty })
            Self.expectFailure(try await cli.run(["logs", UUID().uuidString]), status: 5, "execution not found")

            // A plan file: stop and delete, by name; the same key again is deduplicated.
            let file = cli.root + "/plan.json"
            try #"{"idempotency_key": "down-1", "actions": [{"operation": "STOP", "vm_id": "\#(vmID)"}, {"operation": "DELETE", "vm_id": "\#(vmID)"}]}"#
                .write(toFile: file, atomically: true, encoding: .utf8)
            let down = try await cli.run(["plan", "apply", "-f", file, "--wait"] + site)
            #expect(down.status == 0 && down.stdout.contains("DELETE"), "\(down.stdout)\(down.stderr)")
            let again = try Self.decode(ApplyPlanResponse.self, try await cli.run(["plan", "apply", "-f", file, "-o", "json"] + site))
            #expect(again.deduplicated)

            let audit = try Self.decode(ListAuditEventsResponse.self, try await cli.run(["audit", "list", "--action", "plan.", "--since", "1h", "-o", "json"]))
            #expect(!audit.events.isEmpty && audit.events.allSatisfy { $0.action.hasPrefix("plan.") }, "\(audit.events.map(\.action))")
            let auditTable = try await cli.run(["audit", "list", "-o", "wide"])
            #expect(auditTable.status == 0 && auditTable.stdout.contains("REQUEST"), "\(auditTable.stderr)")

            Self.expectFailure(try await cli.run(["plan", "apply", "--start", "nope"] + site), status: 5, "vm nope not found")
            Self.expectFailure(try await cli.run(["plan", "apply"] + site), status: 2, "exactly one of")
            Self.expectFailure(try await cli.run(["plan", "apply", "--create", "Bad_Name"] + site), status: 1, "(HTTP 400")
            Self.expectFailure(try await cli.run(["plan", "apply", "-f", cli.root + "/missing.json"] + site), status: 2, "cannot read the plan file")
            Self.expectFailure(try await cli.run(["plan", "get", UUID().uuidString]), status: 5, "plan not found")
        }
    }

    @Test("a failed plan exits 6 and names the failed execution; --wait that runs out exits 7")
    func failedPlan() async throws {
        try await ControlPlaneHarness.withFleet { harness, fleet in
            let cli = try CLI(harness)
            defer { cli.cleanUp() }
            try await cli.login(["--tenant", fleet.tenant.id], environment: ["NKUDO_API_KEY": fleet.apiKey])
            let agent = try await fleet.enrollAgent(hostname: "edge-f")
            let applied = try Self.decode(ApplyPlanResponse.self, try await cli.run(["plan", "apply", "--site", fleet.site.id,
                                                                                      "--create", "doomed", "-o", "json"]))
            Self.expectFailure(try await cli.run(["plan", "get", applied.planId, "--wait", "--wait-timeout", "1s"]), status: 7, "still PENDING")
            let leased = try #require(try await agent.client.heartbeat(HeartbeatRequest()).pendingPlans.first)
            let action = try #require(leased.actions.first)
            _ = try await agent.client.reportExecutionResult(ReportExecutionResultRequest(
                executionId: leased.executionId,
                results: [.init(executionId: action.executionId, actionId: action.actionId, ok: false, message: "disk full")],
                leaseToken: leased.leaseToken))
            let failed = try await cli.run(["plan", "get", applied.planId, "--wait"])
            #expect(failed.status == 6 && failed.stdout.contains("FAILED"), "\(failed.stdout)")
            #expect(failed.stderr.hasPrefix("error: plan \(applied.planId) FAILED; execution \(action.executionId) (CREATE) failed"), "\(failed.stderr)")
        }
    }
}
