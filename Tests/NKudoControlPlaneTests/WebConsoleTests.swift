import ControlPlaneTestSupport
import Foundation
import NIOHTTP1
import NKudoContract
@testable import NKudoControlPlane
import NKudoPKI
import NKudoSQL
import Testing

/// The web console at `/ui` over HTTPS: sessions and their cookies, CSRF and cross-origin
/// refusals, tenant isolation (404s), keys that stop being valid, escaping.
@Suite("Web console", .serialized)
struct WebConsoleTests {
    /// Runs `body` with a fleet and a console browser, shutting both down afterwards.
    func withConsole(_ body: (ControlPlaneHarness, Fleet, ConsoleBrowser) async throws -> Void) async throws {
        try await ControlPlaneHarness.withFleet { harness, fleet in
            let browser = try ConsoleBrowser(harness)
            do {
                try await body(harness, fleet, browser)
            } catch {
                await browser.shutdown()
                throw error
            }
            await browser.shutdown()
        }
    }

    @Test("sign in with an API key, see the sites, sign out: cookies HttpOnly, Secure, SameSite=Strict on /ui; strict headers")
    func signInAndOut() async throws {
        try await withConsole { harness, fleet, browser in
            let signedOut = try await browser.get("/ui")
            #expect(signedOut.status == 303 && signedOut.location == "/ui/sign-in")
            let form = try await browser.get("/ui/sign-in")
            #expect(form.status == 200)
            let loginCookie = try #require(form.setCookie("nkudo_login"))
            for attribute in ["Path=/ui", "HttpOnly", "Secure", "SameSite=Strict"] { #expect(loginCookie.contains(attribute)) }
            #expect(form.headers.first(name: "Content-Security-Policy")?.contains("script-src 'self'") == true)
            #expect(form.headers.first(name: "Content-Security-Policy")?.contains("frame-ancestors 'none'") == true)
            #expect(form.headers.first(name: "X-Frame-Options") == "DENY")
            #expect(form.headers.first(name: "Cache-Control") == "no-store")
            #expect(form.headers.first(name: "Referrer-Policy") == "same-origin")
            #expect(!form.body.contains("<script>"), "no inline scripts")

            // Login CSRF: a sign-in without the form's own token is refused.
            let forged = try await browser.post("/ui/sign-in", [("login_token", "forged"), ("kind", "tenant"), ("key", fleet.apiKey)])
            #expect(forged.status == 403 && browser.cookie("nkudo_session") == nil)
            let wrong = try await browser.signIn("nk_not-a-key")
            #expect(wrong.status == 401 && wrong.body.contains("not valid") && browser.cookie("nkudo_session") == nil)

            let signedIn = try await browser.signIn(fleet.apiKey)
            #expect(signedIn.status == 303 && signedIn.location == "/ui")
            let sessionCookie = try #require(signedIn.setCookie("nkudo_session"))
            for attribute in ["Path=/ui", "HttpOnly", "Secure", "SameSite=Strict"] { #expect(sessionCookie.contains(attribute)) }
            #expect(!sessionCookie.contains(fleet.apiKey), "the cookie holds a session id, never the key")
            let home = try await browser.get("/ui")
            #expect(home.status == 200 && home.body.contains(fleet.site.name) && home.body.contains(fleet.site.id))
            #expect(home.headers.first(name: "Cache-Control") == "no-store")
            let live = try await browser.get("/ui?fragment=live")
            #expect(live.status == 200 && live.body.contains(fleet.site.id) && !live.body.contains("<html"))

            // Signing out needs the session's CSRF token, then ends the session on the server.
            let session = try #require(browser.cookie("nkudo_session"))
            let csrf = try #require(home.field("csrf_token"))
            #expect(try await browser.post("/ui/sign-out", [("csrf_token", "wrong")]).status == 403)
            let out = try await browser.post("/ui/sign-out", [("csrf_token", csrf)])
            #expect(out.status == 303 && out.location == "/ui/sign-in" && out.setCookie("nkudo_session")?.contains("Max-Age=0") == true)
            browser.setCookie("nkudo_session", session)
            #expect(try await browser.get("/ui").location == "/ui/sign-in", "the session is gone on the server, not only in the browser")
            #expect(try await browser.get("/ui?fragment=live").status == 401)
        }
    }

    @Test("apply a plan from the form: CSRF token and same origin required; a double submit is one plan")
    func applyPlanForm() async throws {
        try await withConsole { harness, fleet, browser in
            _ = try await browser.signIn(fleet.apiKey)
            let site = try await browser.get("/ui/sites/\(fleet.site.id)")
            #expect(site.status == 200 && site.body.contains("apply-plan"))
            let csrf = try #require(site.field("csrf_token", after: "id=\"apply-plan\""))
            #expect(csrf == site.field("csrf_token"), "the apply form carries the session's token, as the sign-out form does")
            let key = try #require(site.field("idempotency_key", after: "id=\"apply-plan\""))
            let fields = [("csrf_token", csrf), ("idempotency_key", key), ("operation", "CREATE"), ("name", "web-1"), ("vcpu_count", "1"),
                          ("memory_mib", "256")]
            let path = "/ui/sites/\(fleet.site.id)/plans"
            #expect(try await browser.post(path, [("csrf_token", "forged")] + fields.dropFirst()).status == 403)
            #expect(try await browser.post(path, fields, headers: [("Origin", "https://evil.example")]).status == 403)
            #expect(try await browser.post(path, fields, headers: [("Sec-Fetch-Site", "cross-site")]).status == 403)
            #expect(try await browser.post(path, fields, headers: [("Origin", "null")]).status == 403)
            let stranger = try ConsoleBrowser(harness)
            defer { Task { await stranger.shutdown() } }
            #expect(try await stranger.post(path, fields).location == "/ui/sign-in", "no session: to the sign-in page")
            #expect(try await fleet.tenantClient.getStatus(GetStatusRequest(siteId: fleet.site.id)).vms.isEmpty, "nothing was applied")

            let applied = try await browser.post(path, fields, headers: [("Origin", "same"), ("Sec-Fetch-Site", "same-origin")])
            #expect(applied.status == 303)
            let location = try #require(applied.location)
            #expect(location.hasPrefix("/ui/plans/"))
            let again = try await browser.post(path, fields)
            #expect(again.location == location, "the form's idempotency key makes a double submit the same plan")
            let vms = try await fleet.tenantClient.getStatus(GetStatusRequest(siteId: fleet.site.id)).vms
            #expect(vms.map(\.name) == ["web-1"])

            let bad = try await browser.post(path, [("csrf_token", csrf), ("idempotency_key", "k2"), ("operation", "CREATE"), ("name", "-bad-")])
            #expect(bad.status == 400 && bad.body.contains("RFC 1123"))
            let noKey = try await browser.post(path, [("csrf_token", csrf), ("operation", "EXPLODE")])
            #expect(noKey.status == 400)
        }
    }

    @Test("another tenant's key sees none of it: its sites, VMs and forms answer 404, as do malformed ids; an admin sees no tenant pages")
    func tenantIsolation() async throws {
        try await withConsole { harness, fleet, browser in
            let agent = try await fleet.enrollAgent(hostname: "edge-isolated")
            _ = agent
            _ = try await fleet.tenantClient.applyPlan(ApplyPlanRequest(siteId: fleet.site.id, idempotencyKey: "k", actions: [
                ApplyPlanRequest.Action(operation: .create, name: "secret-vm"),
            ]))
            let vm = try #require(try await fleet.tenantClient.listMicroVMs(ListMicroVMsRequest(siteId: fleet.site.id)).vms.first)
            _ = try await browser.signIn(fleet.apiKey)
            let site = try await browser.get("/ui/sites/\(fleet.site.id)")
            #expect(site.status == 200 && site.body.contains("edge-isolated") && site.body.contains("secret-vm"))
            #expect(try await browser.get("/ui/sites/\(fleet.site.id)/vms/\(vm.id)").body.contains("secret-vm"))

            let other = try await Fleet.create(harness, slug: "globex")
            let intruder = try ConsoleBrowser(harness)
            defer { Task { await intruder.shutdown() } }
            #expect(try await intruder.signIn(other.apiKey).status == 303)
            let home = try await intruder.get("/ui")
            #expect(home.status == 200 && home.body.contains(other.site.id) && !home.body.contains(fleet.site.id))
            for path in ["/ui/sites/\(fleet.site.id)", "/ui/sites/\(fleet.site.id)?fragment=live", "/ui/sites/\(fleet.site.id)/vms/\(vm.id)",
                         "/ui/sites/\(other.site.id)/vms/\(vm.id)", "/ui/sites/not-a-uuid", "/ui/sites/%3Cscript%3E/vms/x",
                         "/ui/plans/not-a-uuid", "/ui/nowhere", "/ui/static/nothing.js", "/ui/admin"] {
                let page = try await intruder.get(path)
                #expect(page.status == 404, "\(path)")
                #expect(!page.body.contains("secret-vm") && !page.body.contains("edge-isolated"))
            }
            let csrf = try #require(home.field("csrf_token"))
            let foreign = try await intruder.post("/ui/sites/\(fleet.site.id)/plans", [("csrf_token", csrf), ("idempotency_key", "x"),
                                                                                      ("operation", "DELETE"), ("vm_id", vm.id)])
            #expect(foreign.status == 404)
            #expect(try await fleet.tenantClient.listMicroVMs(ListMicroVMsRequest(siteId: fleet.site.id)).vms.first?.state == vm.state)

            let operator_ = try ConsoleBrowser(harness)
            defer { Task { await operator_.shutdown() } }
            #expect(try await operator_.signIn("wrong-admin-key", admin: true).status == 401)
            let admin = try await operator_.signIn(harness.configuration.adminKey ?? "", admin: true)
            #expect(admin.status == 303 && admin.location == "/ui/admin")
            // The database keeps the admin key hashed behind the CA key's secret, not a plain SHA-256 a backup could test guesses against.
            let adminKey = harness.configuration.adminKey ?? ""
            let stored = try await harness.store.rows("SELECT admin_key_hash FROM console_sessions WHERE kind = 'ADMIN'").map { try $0.text("admin_key_hash") }
            #expect(stored == [WebConsole.adminKeyHash(adminKey, secret: try harness.pki.authority.key.pkcs8PEM())])
            #expect(!stored.contains(Digest.sha256Hex(adminKey)))
            #expect(try await operator_.get("/ui").location == "/ui/admin")
            #expect(try await operator_.get("/ui/sites/\(fleet.site.id)").status == 404)
            #expect(try await browser.get("/ui/admin").status == 404, "a tenant sees no admin page")
        }
    }

    @Test("a plan's page shows its executions and logs; a site's plans and the audit trail page, newest first; the operator's tenants")
    func planAuditAndTenantPages() async throws {
        try await withConsole { harness, fleet, browser in
            let agent = try await fleet.enrollAgent(hostname: "edge-plans")
            _ = agent
            var planIDs: [String] = []
            for index in 1...3 {
                let applied = try await fleet.tenantClient.applyPlan(ApplyPlanRequest(siteId: fleet.site.id, idempotencyKey: "k\(index)", actions: [
                    ApplyPlanRequest.Action(operation: .create, name: "vm-\(index)"),
                ]))
                planIDs.append(applied.planId)
            }
            _ = try await browser.signIn(fleet.apiKey)
            let site = try await browser.get("/ui/sites/\(fleet.site.id)")
            let rows = planIDs.reversed().map { site.body.range(of: "data-plan-id=\"\($0)\"")?.lowerBound }
            #expect(rows.allSatisfy { $0 != nil } && rows == rows.sorted { $0! < $1! }, "recent plans, newest first")
            let plans = try await browser.get("/ui/sites/\(fleet.site.id)/plans")
            #expect(plans.status == 200 && planIDs.allSatisfy { plans.body.contains($0) })
            let plan = try await browser.get("/ui/plans/\(planIDs[0])")
            #expect(plan.status == 200 && plan.body.contains("id=\"plan-status\"") && plan.body.contains("CREATE vm-1"))
            #expect(plan.body.contains("data-execution-id=") && plan.body.contains("No logs yet"))
            let live = try await browser.get("/ui/plans/\(planIDs[0])?fragment=live")
            #expect(live.status == 200 && live.body.contains("plan-status") && !live.body.contains("<html"))
            let audit = try await browser.get("/ui/audit?action=plan.")
            #expect(audit.status == 200 && audit.body.components(separatedBy: "plan.apply").count - 1 == 3)
            #expect(try await browser.get("/ui/audit?cursor=garbage").status == 400)
            #expect(try await browser.get("/ui/plans/\(UUID().uuidString.lowercased())").status == 404)

            let operator_ = try ConsoleBrowser(harness)
            defer { Task { await operator_.shutdown() } }
            _ = try await operator_.signIn(harness.configuration.adminKey ?? "", admin: true)
            let tenants = try await operator_.get("/ui/admin")
            #expect(tenants.status == 200 && tenants.body.contains(fleet.tenant.slug) && tenants.body.contains(fleet.tenant.id))
            #expect(try await operator_.get("/ui/audit").status == 404)
            #expect(try await operator_.get("/ui/plans/\(planIDs[0])").status == 404)
        }
    }

    @Test("revoking the API key ends its console sessions at once")
    func revokedKeyEndsTheSession() async throws {
        try await withConsole { harness, fleet, browser in
            let key = try await fleet.admin.createAPIKey(CreateAPIKeyRequest(tenantId: fleet.tenant.id, name: "revoked"))
            #expect(try await browser.signIn(key.apiKey).status == 303)
            #expect(try await browser.get("/ui/sites/\(fleet.site.id)").status == 200)
            _ = try await fleet.admin.revokeAPIKey(RevokeAPIKeyRequest(tenantId: fleet.tenant.id, apiKeyId: key.id))
            #expect(try await browser.get("/ui/sites/\(fleet.site.id)").location == "/ui/sign-in")
            #expect(try await browser.get("/ui?fragment=live").status == 401)
            #expect(try await browser.signIn(key.apiKey).status == 401)
        }
    }

    @Test("a session ends when its API key stops being valid")
    func expiredKeyEndsTheSession() async throws {
        try await withConsole { harness, fleet, browser in
            let key = try await fleet.admin.createAPIKey(CreateAPIKeyRequest(tenantId: fleet.tenant.id, name: "short", expiresInSeconds: 2))
            #expect(try await browser.signIn(key.apiKey).status == 303)
            #expect(try await browser.get("/ui").status == 200)
            try await Task.sleep(for: .milliseconds(2200))
            #expect(try await browser.get("/ui").location == "/ui/sign-in")
            #expect(try await browser.get("/ui/sites/\(fleet.site.id)?fragment=live").status == 401)
        }
    }

    @Test("hostile names are escaped on every page")
    func escapesHostileNames() async throws {
        try await withConsole { harness, fleet, browser in
            let hostile = #"<script>alert("x")</script>&'"#
            let site = try await fleet.tenantClient.createSite(CreateSiteRequest(tenantId: fleet.tenant.id, name: hostile))
            _ = try await browser.signIn(fleet.apiKey)
            for path in ["/ui", "/ui?fragment=live", "/ui/sites/\(site.id)"] {
                let page = try await browser.get(path)
                #expect(page.status == 200)
                #expect(!page.body.contains("<script>alert"), "\(path)")
                #expect(page.body.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;"), "\(path)")
            }
        }
    }

    @Test("HEAD is GET without the body; a method a page does not take is 405 with Allow; a form in another type names the form type")
    func methods() async throws {
        try await withConsole { harness, fleet, browser in
            // HEAD used to loop on 303 to the sign-in page (and was 404 when signed in).
            let head = try await browser.send(.HEAD, "/ui/sign-in")
            #expect(head.status == 200 && head.body.isEmpty, "\(head.status)")
            #expect(try await browser.send(.HEAD, "/ui/static/console.js").status == 200)
            _ = try await browser.signIn(fleet.apiKey)
            #expect(try await browser.send(.HEAD, "/ui").status == 200)
            for (method, path, allow) in [(HTTPMethod.PUT, "/ui/sites/\(fleet.site.id)/plans", "GET, POST, HEAD"), (.DELETE, "/ui/sign-out", "POST"),
                                          (.POST, "/ui/audit", "GET, HEAD"), (.PATCH, "/ui", "GET, HEAD")] {
                let refused = try await browser.send(method, path)
                #expect(refused.status == 405, "\(method) \(path): \(refused.status)")
                #expect(refused.headers.first(name: "Allow") == allow, "\(method) \(path)")
            }
            let json = try await browser.send(.POST, "/ui/sign-out", body: Array("{}".utf8),
                                              headers: [("Content-Type", "application/json"), ("Origin", "https://127.0.0.1:\(harness.port)")])
            #expect(json.status == 415 && json.body.contains("application/x-www-form-urlencoded"), "\(json.status) \(json.body)")
        }
    }

    @Test("the templates parse and the static script is served with the console's headers")
    func assets() async throws {
        try await withConsole { harness, fleet, browser in
            let script = try await browser.get("/ui/static/console.js")
            #expect(script.status == 200 && script.headers.first(name: "Content-Type")?.hasPrefix("text/javascript") == true)
            #expect(script.body.contains("data-live-url") && script.headers.first(name: "X-Content-Type-Options") == "nosniff")
            #expect(try await browser.get("/ui/static/console.css").status == 200)
        }
    }
}
