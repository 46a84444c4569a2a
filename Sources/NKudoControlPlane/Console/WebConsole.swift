import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Mustache
import NIOCore
import NKudoContract
import NKudoPKI
import NKudoStore

/// The web console at `/ui`: server-rendered pages over the same service implementations
/// the API serves, called in process with the session's caller, so authorisation, tenant
/// isolation and validation are the API's own. Sessions live in the store (cookie: a
/// random id; database: its SHA-256), POST forms carry the session's CSRF token and must
/// come from the console's own origin, the sign-in form a double-submit token. Failed
/// sign-ins count against the API's authentication-failure budget and are audited alike.
struct WebConsole: Sendable {
    let tenant: TenantServiceImplementation
    let admin: AdminServiceImplementation
    let environment: ServiceEnvironment
    let authenticator: any CallerAuthenticator
    let authFailures: AuthFailureGuard
    /// The admin key in use, hashed with a secret of the control plane's (``adminKeyHash(_:secret:)``);
    /// admin sessions opened with another key end.
    let adminKeyHash: String
    let readTimeout: Duration
    let library: MustacheLibrary

    /// The console's RPC name in audit events and authentication-failure counts.
    static let signInRPC = "console.SignIn"

    /// A page's answer.
    enum Page {
        case html(HTTPResponse.Status, template: String, context: [String: Any], cookies: [String] = [])
        case response(Response)
    }

    init(tenant: TenantServiceImplementation, admin: AdminServiceImplementation, environment: ServiceEnvironment,
         authenticator: any CallerAuthenticator, authFailures: AuthFailureGuard, adminKey: String, secret: String, readTimeout: Duration) throws {
        self.tenant = tenant
        self.admin = admin
        self.environment = environment
        self.authenticator = authenticator
        self.authFailures = authFailures
        let trimmed = adminKey.trimmingCharacters(in: .whitespacesAndNewlines)
        self.adminKeyHash = trimmed.isEmpty ? "" : Self.adminKeyHash(trimmed, secret: secret)
        self.readTimeout = readTimeout
        var library = MustacheLibrary()
        for (name, text) in ConsoleTemplates.all {
            try library.register(text, named: name)
        }
        self.library = library
    }

    /// What an admin session stores of the admin key: SHA-256 of the key behind a secret
    /// that is not in the database (the CA's private key, which every replica has). A plain
    /// SHA-256 of the key let anyone with a copy of the database test guesses of an
    /// operator-chosen `ADMIN_KEY` offline. A copy of the whole SQLite data directory holds
    /// the CA key too, so only a copy of the database itself is covered there.
    static func adminKeyHash(_ adminKey: String, secret: String) -> String {
        Digest.sha256Hex("n-kudo console admin session\n" + Digest.sha256Hex(secret) + "\n" + adminKey)
    }

    /// Whether the console serves `path`.
    static func serves(_ path: String) -> Bool {
        path == "/ui" || path.hasPrefix("/ui/")
    }

    /// Answers a request under `/ui`; the route name is for metrics and the request log.
    /// `HEAD` is answered as `GET` without the body; a method a page does not take is 405
    /// with `Allow`.
    func respond(to request: Request, remoteAddress: String?, requestID: String, logger: Logger) async -> (Response, route: String) {
        let route = ConsoleRoute(request.uri.path.split(separator: "/").dropFirst().map(String.init))
        let method = request.method == .head ? HTTPRequest.Method.get : request.method
        guard route == .unknown || route.methods.contains(method) else {
            let refused = APIError(status: .methodNotAllowed, code: "invalid_argument", message: "this page takes \(route.methods.map(\.rawValue).joined(separator: " and "))")
            var response = errorPage(refused, requestID: requestID, logger: logger)
            response.headers[.allow] = (route.methods.contains(.get) ? route.methods + [.head] : route.methods).map(\.rawValue).joined(separator: ", ")
            return (response, "console")
        }
        var (response, routeName) = await answer(request, method: method, route: route, remoteAddress: remoteAddress, requestID: requestID, logger: logger)
        if request.method == .head { response.body = ResponseBody() }
        return (response, routeName)
    }

    private func answer(_ request: Request, method: HTTPRequest.Method, route: ConsoleRoute, remoteAddress: String?, requestID: String,
                        logger: Logger) async -> (Response, route: String) {
        let query = ConsoleHTTP.formFields(request.uri.query ?? "")
        var routeName = "console"
        do {
            let page: Page
            switch (method, route) {
            case (.get, .staticFile(let name)):
                routeName = "GET /ui/static"
                guard let file = ConsoleAssets.files[name] else { throw APIError.notFound("no such file") }
                return (ConsoleHTTP.response(.ok, contentType: file.contentType, body: file.body, cacheable: true), routeName)
            case (.get, .signIn):
                routeName = "GET /ui/sign-in"
                page = signInPage(error: nil, status: .ok)
            case (.post, .signIn):
                routeName = "POST /ui/sign-in"
                page = try await signIn(request, remoteAddress: remoteAddress, requestID: requestID, logger: logger)
            default:
                let now = environment.now()
                guard let id = ConsoleHTTP.cookie(ConsoleHTTP.sessionCookie, in: request.headers),
                      let session = try await ConsoleSession.find(id: id, store: environment.store, adminKeyHash: adminKeyHash, now: now) else {
                    routeName = "console (signed out)"
                    if query["fragment"] != nil { return (ConsoleHTTP.response(.unauthorized, body: []), routeName) }
                    return (ConsoleHTTP.redirect(to: "/ui/sign-in"), routeName)
                }
                let call = CallContext(caller: session.caller, requestID: requestID, logger: logger, remoteAddress: remoteAddress)
                var form: [String: String] = [:]
                if method == .post {
                    form = try await postedForm(request)
                    guard ConsoleHTTP.secretsMatch(form["csrf_token"], session.csrfToken) else {
                        throw APIError.forbidden("the form's CSRF token is missing or wrong; reload the page and try again")
                    }
                }
                (page, routeName) = try await signedIn(method, route, query: query, form: form, session: session, call: call)
            }
            switch page {
            case .response(let response):
                return (response, routeName)
            case .html(let status, let template, let context, let cookies):
                return (render(status, template: template, context: context, cookies: cookies), routeName)
            }
        } catch {
            return (errorPage(error, requestID: requestID, logger: logger), routeName)
        }
    }

    // MARK: Signed-in routes

    private func signedIn(_ method: HTTPRequest.Method, _ route: ConsoleRoute, query: [String: String], form: [String: String],
                          session: ConsoleSession, call: CallContext) async throws -> (Page, String) {
        let fragment = query["fragment"] == "live"
        switch (method, route, session.caller) {
        case (.post, .signOut, _):
            try await environment.store.deleteConsoleSession(idHash: session.idHash)
            let tenantID = session.caller.tenantID
            await environment.audit(call, tenantID: tenantID, action: "console.sign_out", resourceType: session.isTenant ? "api_key" : "console",
                                    resourceID: (try? session.caller.tenantKey().id) ?? "admin")
            return (.response(ConsoleHTTP.redirect(to: "/ui/sign-in", cookies: [ConsoleHTTP.clearCookie(ConsoleHTTP.sessionCookie)])),
                    "POST /ui/sign-out")
        case (.get, .home, .admin):
            return (.response(ConsoleHTTP.redirect(to: "/ui/admin")), "GET /ui")
        case (.get, .home, .tenant(let key)):
            let sites = try await tenant.listSites(ListSitesRequest(tenantId: key.tenantID), context: call).sites
            return (page("sites", fragment: fragment, title: "Sites", session: session, ["sites": sites.map(ConsoleViews.site)]), "GET /ui")
        case (.get, .site(let siteID), .tenant):
            return (try await sitePage(siteID, fragment: fragment, session: session, call: call), "GET /ui/sites/{id}")
        case (.post, .sitePlans(let siteID), .tenant):
            return (try await applyPlan(siteID, form: form, call: call), "POST /ui/sites/{id}/plans")
        case (.get, .vm(let siteID, let vmID), .tenant):
            return (try await vmPage(siteID, vmID, fragment: fragment, session: session, call: call), "GET /ui/sites/{id}/vms/{id}")
        default:
            if let answer = try await operatorPage(method, route, query: query, session: session, call: call) { return answer }
            throw APIError.notFound("page not found")
        }
    }

    private func sitePage(_ siteID: String, fragment: Bool, session: ConsoleSession, call: CallContext) async throws -> Page {
        let status = try await tenant.getStatus(GetStatusRequest(siteId: siteID), context: call)
        let plans = try await recentPlans(siteID, status: status, call: call)
        let context: [String: Any] = [
            "site": ConsoleViews.site(status.site ?? Site()),
            "hosts": status.hosts.map(ConsoleViews.host),
            "vms": status.vms.filter { $0.state != .deleted }.map(ConsoleViews.vm),
            "plans": plans,
            "idempotencyKey": "console-" + SecureRandom.token(),
        ]
        return page("site", fragment: fragment, title: "Site \(status.site?.name ?? siteID)", session: session, context)
    }

    private func vmPage(_ siteID: String, _ vmID: String, fragment: Bool, session: ConsoleSession, call: CallContext) async throws -> Page {
        let vm = try await tenant.getMicroVM(GetMicroVMRequest(siteId: siteID, vmId: vmID), context: call)
        let console = try await tenant.getMicroVMConsole(GetMicroVMConsoleRequest(siteId: siteID, vmId: vm.id), context: call)
        let context: [String: Any] = [
            "siteID": vm.siteId, "vm": ConsoleViews.vm(vm), "console": console.console,
            "consoleUpdated": console.updatedAt.map { ConsoleViews.time($0) as Any } ?? false,
        ]
        return page("vm", fragment: fragment, title: "VM \(vm.name)", session: session, context)
    }

    /// Applies the site page's form through `ApplyPlan`, with the idempotency key the
    /// form was rendered with (a double submit is the same plan), then shows the plan.
    private func applyPlan(_ siteID: String, form: [String: String], call: CallContext) async throws -> Page {
        let operations: [String: Execution.Operation] = ["CREATE": .create, "START": .start, "STOP": .stop, "DELETE": .delete]
        guard let operation = operations[form["operation"] ?? ""] else {
            throw APIError.badRequest("operation must be CREATE, START, STOP or DELETE")
        }
        func number(_ field: String, default value: Int64) throws -> Int64 {
            let text = (form[field] ?? "").trimmingCharacters(in: .whitespaces)
            if text.isEmpty { return value }
            guard let parsed = Int64(text), parsed > 0, parsed <= Int64(Int32.max) else {
                throw APIError.badRequest("\(field) must be a positive whole number")
            }
            return parsed
        }
        let trimmed = { (field: String) in (form[field] ?? "").trimmingCharacters(in: .whitespaces) }
        var action = ApplyPlanRequest.Action(operation: operation, vmId: trimmed("vm_id"))
        if operation == .create {
            action.vmId = ""
            action.name = trimmed("name")
            action.vcpuCount = Int32(try number("vcpu_count", default: 1))
            action.memoryMib = try number("memory_mib", default: 256)
            action.image = trimmed("image")
            action.kernel = trimmed("kernel")
            action.initrd = trimmed("initrd")
        }
        let response = try await tenant.applyPlan(
            ApplyPlanRequest(siteId: siteID, idempotencyKey: form["idempotency_key"] ?? "", actions: [action]), context: call)
        return .response(ConsoleHTTP.redirect(to: "/ui/plans/\(response.planId)"))
    }

    // MARK: Sign-in

    private func signInPage(error: String?, status: HTTPResponse.Status, adminKind: Bool = false) -> Page {
        let loginToken = SecureRandom.token()
        return .html(status, template: "sign-in", context: ["title": "Sign in", "error": error ?? false, "loginToken": loginToken,
                                                            "adminKind": adminKind],
                     cookies: [ConsoleHTTP.setCookie(ConsoleHTTP.loginCookie, loginToken, maxAge: 900)])
    }

    /// Checks the double-submit token, the source's failure budget and the key (the API's
    /// own authenticator: hash lookup of a live API key, or the admin key in constant
    /// time), then opens a session.
    private func signIn(_ request: Request, remoteAddress: String?, requestID: String, logger: Logger) async throws -> Page {
        let form = try await postedForm(request)
        guard ConsoleHTTP.secretsMatch(form["login_token"], ConsoleHTTP.cookie(ConsoleHTTP.loginCookie, in: request.headers) ?? "") else {
            return signInPage(error: "The sign-in form expired; please sign in again.", status: .forbidden)
        }
        let asAdmin = form["kind"] == "admin"
        if let seconds = authFailures.retryAfter(source: remoteAddress) {
            var page = signInPage(error: "Too many failed sign-ins from this address; try again in \(seconds) s.", status: .tooManyRequests,
                                  adminKind: asAdmin)
            if case .html(let status, let template, let context, let cookies) = page {
                var response = render(status, template: template, context: context, cookies: cookies)
                response.headers[.retryAfter] = String(seconds)
                page = .response(response)
            }
            return page
        }
        var headers = HTTPFields()
        let key = form["key"] ?? ""
        headers[asAdmin ? .adminKey : .apiKey] = key
        let caller: Caller
        do {
            caller = try await authenticator.authenticate(method: asAdmin ? AdminService.Method.createTenant : TenantService.Method.listSites,
                                                          headers: headers, peerCertificate: { nil })
        } catch let failure as AuthenticationFailure {
            await authFailures.fail(reason: failure.reason, rpc: Self.signInRPC, requestID: requestID, source: remoteAddress, tenantID: nil)
            return signInPage(error: asAdmin ? "That is not the admin key." : "That API key is not valid (unknown, revoked or expired).",
                              status: .unauthorized, adminKind: asAdmin)
        }
        let sessionID = SecureRandom.token()
        let csrfToken = SecureRandom.token()
        let owner: ConsoleSessionOwner
        switch caller {
        case .tenant(let record): owner = .tenant(apiKeyID: record.id, tenantID: record.tenantID)
        case .admin: owner = .admin(adminKeyHash: adminKeyHash)
        default: throw APIError.unauthorized("not a console user")
        }
        let now = environment.now()
        try await environment.store.createConsoleSession(
            NewConsoleSession(idHash: Digest.sha256Hex(sessionID), owner: owner, csrfToken: csrfToken, createdAt: now),
            expiredBefore: now.addingTimeInterval(-ConsoleSession.idleTimeout))
        let call = CallContext(caller: caller, requestID: requestID, logger: logger, remoteAddress: remoteAddress)
        await environment.audit(call, tenantID: caller.tenantID, action: "console.sign_in", resourceType: asAdmin ? "console" : "api_key",
                                resourceID: (try? caller.tenantKey().id) ?? "admin")
        return .response(ConsoleHTTP.redirect(to: asAdmin ? "/ui/admin" : "/ui", cookies: [
            ConsoleHTTP.setCookie(ConsoleHTTP.sessionCookie, sessionID), ConsoleHTTP.clearCookie(ConsoleHTTP.loginCookie),
        ]))
    }

    // MARK: Rendering

    /// A page, or with `fragment` only its live part (`<template>-live`).
    func page(_ template: String, fragment: Bool, title: String, session: ConsoleSession, _ context: [String: Any]) -> Page {
        var context = context
        context["title"] = title
        context["csrf"] = session.csrfToken
        context["session"] = ["tenant": session.isTenant, "admin": !session.isTenant, "who": session.label] as [String: Any]
        return .html(.ok, template: fragment ? "\(template)-live" : template, context: context)
    }

    private func render(_ status: HTTPResponse.Status, template: String, context: [String: Any], cookies: [String] = []) -> Response {
        let html = library.render(context, withTemplate: template) ?? ""
        return ConsoleHTTP.response(status, body: Array(html.utf8), cookies: cookies)
    }

    /// The page of an error: the API's own mapping (``APIError/answering(_:requestID:)``),
    /// where a resource of another tenant or a malformed id is 404 like a missing one, and
    /// a session that ended goes back to the sign-in page.
    private func errorPage(_ error: any Error, requestID: String, logger: Logger) -> Response {
        let (answer, internalDetail) = APIError.answering(error, requestID: requestID)
        if let internalDetail {
            logger.error("console request failed", metadata: [ControlPlaneLogKey.error: .string(internalDetail)])
        }
        if answer.status == .unauthorized { return ConsoleHTTP.redirect(to: "/ui/sign-in") }
        let status: HTTPResponse.Status
        let message: String
        if answer.status == .notFound || (answer.status == .forbidden && answer.message == "tenant mismatch") {
            (status, message) = (.notFound, "Not found: there is no such page, or it is not yours.")
        } else {
            (status, message) = (answer.status, answer.message)
        }
        let title = status == .notFound ? "Not found" : "Request refused"
        return render(status, template: "message", context: ["title": title, "message": message, "back": "/ui", "backLabel": "Back to the console"])
    }

    // MARK: Requests

    /// The body of a console POST: from this origin, form-encoded, within the size limit.
    private func postedForm(_ request: Request) async throws -> [String: String] {
        if let refusal = ConsoleHTTP.crossOriginRefusal(request) { throw APIError.forbidden(refusal) }
        let contentType = request.headers[.contentType] ?? ""
        guard contentType.lowercased().hasPrefix("application/x-www-form-urlencoded") else {
            throw APIError(status: .unsupportedMediaType, code: "invalid_argument",
                           message: "unsupported content type \"\(contentType.prefix(64))\"; the console's forms are application/x-www-form-urlencoded")
        }
        let buffer: ByteBuffer
        do {
            buffer = try await ControlPlaneResponder.collect(request.body, limit: ConsoleHTTP.maxFormBytes, timeout: readTimeout)
        } catch is NIOTooManyBytesError {
            throw APIError.payloadTooLarge(ConsoleHTTP.maxFormBytes)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw APIError.payloadTooLarge(ConsoleHTTP.maxFormBytes)
        }
        return ConsoleHTTP.formFields(String(decoding: buffer.readableBytesView, as: UTF8.self))
    }
}
