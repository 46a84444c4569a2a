import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import NKudoContract
@testable import NKudoControlPlane
import NKudoStore
import Prometheus
import Testing

/// The control plane's routing, content negotiation and error mapping, in process: the
/// production responder (``ControlPlane/makeResponder``) over a SQLite store of its own,
/// driven by HummingbirdTesting's router framework, without TLS or sockets. What needs a
/// client certificate or a real connection (agent routes, TLS, timeouts) is tested live.
@Suite("Router (in process)")
struct RouterTests {
    /// An admin key, a tenant with an API key and a site, created through the router.
    struct TenantFixture {
        let id: String
        let apiKey: String
        let siteID: String
    }

    /// A test client bound to the responder, and the admin key it accepts.
    struct Router {
        let client: any TestClientProtocol
        let adminKey: String

        /// One request; `headers` by name, `body` as bytes.
        func send(_ method: HTTPRequest.Method, _ path: String, body: [UInt8]? = nil,
                  headers: [(String, String)] = []) async throws -> TestResponse {
            var fields = HTTPFields()
            for (name, value) in headers { fields.append(HTTPField(name: try #require(HTTPField.Name(name)), value: value)) }
            return try await client.execute(uri: path, method: method, headers: fields, body: body.map { ByteBuffer(bytes: $0) })
        }

        /// A request with a JSON body.
        func json(_ method: HTTPRequest.Method, _ path: String, _ body: String, headers: [(String, String)] = []) async throws -> TestResponse {
            try await send(method, path, body: Array(body.utf8), headers: [("Content-Type", "application/json")] + headers)
        }

        /// A tenant, its API key and a site named `site`.
        func tenant(slug: String = "acme", site: String = "zrh-1") async throws -> TenantFixture {
            let created = try await json(.post, "/tenants", #"{"slug": "\#(slug)-\#(UUID().uuidString.prefix(8).lowercased())", "name": "Acme"}"#,
                                         headers: [("X-Admin-Key", adminKey)])
            try #require(created.status == .created, "\(created.text)")
            let tenant = try Tenant(jsonBytes: created.bytes)
            let key = try await json(.post, "/tenants/\(tenant.id)/api-keys", #"{"name": "ci"}"#, headers: [("X-Admin-Key", adminKey)])
            try #require(key.status == .created, "\(key.text)")
            let apiKey = try CreateAPIKeyResponse(jsonBytes: key.bytes).apiKey
            let siteResponse = try await json(.post, "/tenants/\(tenant.id)/sites", #"{"name": "\#(site)"}"#, headers: [("X-API-Key", apiKey)])
            try #require(siteResponse.status == .created, "\(siteResponse.text)")
            return TenantFixture(id: tenant.id, apiKey: apiKey, siteID: try Site(jsonBytes: siteResponse.bytes).id)
        }
    }

    /// Runs `body` against the responder of a control plane with a SQLite store and a PKI
    /// in a temporary data directory (configured by `tweak`), removed afterwards.
    static func withRouter(_ tweak: (inout ControlPlaneConfiguration) -> Void = { _ in },
                           _ body: @Sendable (Router) async throws -> Void) async throws {
        var configuration = ControlPlaneConfiguration()
        configuration.dataDirectory = FileManager.default.temporaryDirectory.appending(path: "nkudo-router-\(UUID().uuidString)").path
        configuration.adminKey = "router-admin-key-\(UUID().uuidString)"
        configuration.serverCertificateNames = ["localhost"]
        configuration.metricsHost = nil
        tweak(&configuration)
        defer { try? FileManager.default.removeItem(atPath: configuration.dataDirectory) }
        var logger = Logger(label: "test.router")
        logger.logLevel = .warning
        let (store, _) = try ControlPlane.openStore(configuration, logger: logger)
        do {
            _ = try await store.migrate()
            let pki = try ControlPlanePKI.load(configuration: configuration, now: Date(), logger: logger)
            let parts = try ControlPlane.makeResponder(configuration: configuration, store: store, pki: pki,
                                                   registry: PrometheusCollectorRegistry(), logger: logger)
            let application = Application(responder: parts.responder, logger: logger)
            let adminKey = pki.adminKey
            try await application.test(.router) { client in
                try await body(Router(client: client, adminKey: adminKey))
            }
        } catch {
            await store.close()
            throw error
        }
        await store.close()
    }

    /// The keys and values of a JSON object body.
    static func object(_ response: TestResponse) throws -> [String: String] {
        let parsed = try JSONSerialization.jsonObject(with: Data(response.bytes))
        return try #require(parsed as? [String: String], "\(response.text)")
    }

    // MARK: Routing

    @Test("REST bindings route by method and path, binding the path parameters")
    func restBindings() async throws {
        try await Self.withRouter { router in
            let tenant = try await router.tenant(site: "zrh-1")
            let sites = try await router.send(.get, "/tenants/\(tenant.id)/sites", headers: [("X-API-Key", tenant.apiKey)])
            #expect(sites.status == .ok)
            #expect(sites.headers[.contentType] == "application/json")
            #expect(try ListSitesResponse(jsonBytes: sites.bytes).sites.map(\.id) == [tenant.siteID])
            for path in ["/sites/\(tenant.siteID)/hosts", "/sites/\(tenant.siteID)/vms", "/sites/\(tenant.siteID)/status"] {
                let response = try await router.send(.get, path, headers: [("X-API-Key", tenant.apiKey)])
                #expect(response.status == .ok, "\(path): \(response.text)")
            }
            // A percent-encoded path parameter is decoded before it is bound.
            let encoded = tenant.siteID.replacingOccurrences(of: "-", with: "%2D")
            #expect(try await router.send(.get, "/sites/\(encoded)/hosts", headers: [("X-API-Key", tenant.apiKey)]).status == .ok)
            let health = try await router.send(.get, "/healthz")
            #expect(health.status == .ok)
            #expect(try CheckResponse(jsonBytes: health.bytes).status == "ok")
            let head = try await router.send(.head, "/healthz")
            #expect(head.status == .ok && head.bytes.isEmpty, "HEAD is GET without the body")
        }
    }

    @Test("Connect paths /nkudo.v1.<Service>/<Method> reach the same RPCs, with the request fields in the body")
    func connectPaths() async throws {
        try await Self.withRouter { router in
            let tenant = try await router.tenant()
            let health = try await router.json(.post, "/nkudo.v1.HealthService/Check", "{}")
            #expect(health.status == .ok)
            #expect(health.headers[.contentType] == "application/json")
            #expect(try CheckResponse(jsonBytes: health.bytes).status == "ok")
            let sites = try await router.json(.post, "/nkudo.v1.TenantService/ListSites", #"{"tenant_id": "\#(tenant.id)"}"#,
                                              headers: [("X-API-Key", tenant.apiKey)])
            #expect(sites.status == .ok, "\(sites.text)")
            #expect(try ListSitesResponse(jsonBytes: sites.bytes).sites.map(\.id) == [tenant.siteID])
            let getOnConnect = try await router.send(.get, "/nkudo.v1.TenantService/CreateSite")
            #expect(getOnConnect.status == .methodNotAllowed, "GET only for NO_SIDE_EFFECTS methods")
            #expect(getOnConnect.headers[.allow] == "POST")
        }
    }

    @Test("unknown paths are 404 with an error body", arguments: [
        "/no/such/route", "/nkudo.v1.HealthService/Nope", "/nkudo.v1.NoService/Check", "/tenants//sites", "/sites/../healthz", "/sites/%zz/hosts", "/",
    ])
    func unknownPath(path: String) async throws {
        try await Self.withRouter { router in
            let response = try await router.send(.get, path)
            #expect(response.status == .notFound)
            #expect(try Self.object(response)["code"] == "not_found")
        }
    }

    @Test("a path served with other methods is 405 with an Allow header listing them", arguments: [
        (HTTPRequest.Method.delete, "/healthz", "GET"),
        (.put, "/tenants", "POST, GET"),
        (.put, "/sites/\(UUID().uuidString.lowercased())/plans", "POST, GET"),
        (.post, "/sites/\(UUID().uuidString.lowercased())/vms/\(UUID().uuidString.lowercased())", "GET"),
        (.put, "/sites/\(UUID().uuidString.lowercased())/hosts/\(UUID().uuidString.lowercased())", "DELETE"),
        (.delete, "/tenants/\(UUID().uuidString.lowercased())/sites", "POST, GET"),
        (.get, "/v1/heartbeat", "POST"),
    ])
    func wrongMethod(method: HTTPRequest.Method, path: String, allow: String) async throws {
        try await Self.withRouter { router in
            let response = try await router.send(method, path)
            #expect(response.status == .methodNotAllowed)
            #expect(response.headers[.allow] == allow)
            let error = try Self.object(response)
            #expect(error["code"] == "invalid_argument")
            #expect(error["error"] == "method \(method.rawValue) not allowed on \(path)")
        }
    }

    // MARK: Content negotiation

    @Test("request bodies in JSON or binary protobuf; the response follows Accept, else the request's format")
    func contentNegotiation() async throws {
        try await Self.withRouter { router in
            let request = CreateTenantRequest(slug: "neg-\(UUID().uuidString.prefix(8).lowercased())", name: "Négociation")
            let admin = ("X-Admin-Key", router.adminKey)
            let binary = try await router.send(.post, "/tenants", body: try request.serializedBytes(),
                                               headers: [("Content-Type", "application/x-protobuf"), admin])
            #expect(binary.status == .created, "\(binary.text)")
            #expect(binary.headers[.contentType] == "application/x-protobuf")
            let tenant = try Tenant(serializedBytes: binary.bytes)
            #expect(tenant.slug == request.slug && tenant.name == "Négociation")

            let createKey = { (contentType: String, accept: String?, body: [UInt8]) in
                try await router.send(.post, "/tenants/\(tenant.id)/api-keys", body: body,
                                      headers: [("Content-Type", contentType), admin] + (accept.map { [("Accept", $0)] } ?? []))
            }
            let keyRequest = CreateAPIKeyRequest(name: "k")
            let jsonToBinary = try await createKey("application/json; charset=utf-8", "application/x-protobuf", try keyRequest.jsonBytes())
            #expect(jsonToBinary.status == .created)
            #expect(jsonToBinary.headers[.contentType] == "application/x-protobuf")
            #expect(try CreateAPIKeyResponse(serializedBytes: jsonToBinary.bytes).tenantId == tenant.id)
            let binaryToJSON = try await createKey("application/protobuf", "application/json", try keyRequest.serializedBytes())
            #expect(binaryToJSON.status == .created)
            #expect(binaryToJSON.headers[.contentType] == "application/json")
            #expect(try CreateAPIKeyResponse(jsonBytes: binaryToJSON.bytes).tenantId == tenant.id)
            let anyFormat = try await createKey("application/x-protobuf", "*/*", try keyRequest.serializedBytes())
            #expect(anyFormat.headers[.contentType] == "application/x-protobuf", "*/* keeps the request's format")
            let apiKey = try CreateAPIKeyResponse(jsonBytes: binaryToJSON.bytes).apiKey

            // Connect: application/proto and application/json, answered in kind (status 200, not the binding's 201).
            let site = try await router.send(.post, "/nkudo.v1.TenantService/CreateSite",
                                             body: try CreateSiteRequest(tenantId: tenant.id, name: "bin-1").serializedBytes(),
                                             headers: [("Content-Type", "application/proto"), ("X-API-Key", apiKey)])
            #expect(site.status == .ok, "\(site.text)")
            #expect(site.headers[.contentType] == "application/proto")
            let siteID = try Site(serializedBytes: site.bytes).id
            let listRequest = ListSitesRequest(tenantId: tenant.id)
            let proto = try await router.send(.post, "/nkudo.v1.TenantService/ListSites", body: try listRequest.serializedBytes(),
                                              headers: [("Content-Type", "application/proto"), ("X-API-Key", apiKey)])
            #expect(proto.status == .ok, "\(proto.text)")
            #expect(proto.headers[.contentType] == "application/proto")
            #expect(try ListSitesResponse(serializedBytes: proto.bytes).sites.map(\.id) == [siteID])
            let connectJSON = try await router.send(.post, "/nkudo.v1.TenantService/ListSites", body: try listRequest.jsonBytes(),
                                                    headers: [("Content-Type", "application/json"), ("X-API-Key", apiKey)])
            #expect(connectJSON.status == .ok)
            #expect(connectJSON.headers[.contentType] == "application/json")
            #expect(try ListSitesResponse(jsonBytes: connectJSON.bytes).sites.map(\.id) == [siteID])
            // An empty binary body is a message with no fields; an empty JSON body is refused.
            let empty = try await router.send(.post, "/nkudo.v1.HealthService/Check", body: [], headers: [("Content-Type", "application/proto")])
            #expect(empty.status == .ok)
            #expect(try CheckResponse(serializedBytes: empty.bytes).status == "ok")
            let emptyJSON = try await router.send(.post, "/nkudo.v1.HealthService/Check", body: [], headers: [("Content-Type", "application/json")])
            #expect(emptyJSON.status == .badRequest)
        }
    }

    @Test("a body larger than MAX_BODY_BYTES is 413")
    func oversizedBody() async throws {
        try await Self.withRouter({ $0.maxBodyBytes = 1024 }) { router in
            let padded = #"{"slug": "big", "name": "\#(String(repeating: "x", count: 2048))"}"#
            let response = try await router.json(.post, "/tenants", padded, headers: [("X-Admin-Key", router.adminKey)])
            #expect(response.status == .contentTooLarge)
            let error = try Self.object(response)
            #expect(error["code"] == "resource_exhausted")
            #expect(error["error"] == "request body exceeds 1024 bytes")
            let fits = try await router.json(.post, "/tenants", #"{"slug": "small-\#(UUID().uuidString.prefix(8).lowercased())", "name": "s"}"#,
                                             headers: [("X-Admin-Key", router.adminKey)])
            #expect(fits.status == .created)
        }
    }

    @Test("a body without a content type we speak is 415", arguments: [nil, "text/plain", "application/xml", "application/jsonx", "multipart/form-data"])
    func unsupportedMediaType(contentType: String?) async throws {
        try await Self.withRouter { router in
            let headers = [("X-Admin-Key", router.adminKey)] + (contentType.map { [("Content-Type", $0)] } ?? [])
            let rest = try await router.send(.post, "/tenants", body: Array(#"{"slug": "x", "name": "x"}"#.utf8), headers: headers)
            #expect(rest.status == .unsupportedMediaType)
            let error = try Self.object(rest)
            #expect(error["code"] == "invalid_argument")
            #expect(error["error"]?.hasPrefix("unsupported content type \(contentType.map { "\"\($0)\"" } ?? "(none)")") == true, "\(rest.text)")
            let connect = try await router.send(.post, "/nkudo.v1.HealthService/Check", body: Array("{}".utf8),
                                                headers: contentType.map { [("Content-Type", $0)] } ?? [])
            #expect(connect.status == .unsupportedMediaType)
            #expect(try ConnectProtocolTests.error(connect).code == "invalid_argument")
        }
    }

    // MARK: Error mapping

    @Test("malformed JSON and malformed protobuf are 400 with a message that says what is wrong")
    func malformedBodies() async throws {
        try await Self.withRouter { router in
            let admin = ("X-Admin-Key", router.adminKey)
            let cases: [(String, [UInt8], String, String)] = [
                ("truncated JSON", Array(#"{"slug": "#.utf8), "application/json", "nkudo.v1.CreateTenantRequest"),
                ("JSON array", Array("[1, 2]".utf8), "application/json", "nkudo.v1.CreateTenantRequest"),
                ("wrong JSON type", Array(#"{"slug": 42, "name": "x"}"#.utf8), "application/json", "slug"),
                ("unknown JSON field", Array(#"{"slug": "x", "name": "x", "owner": "me"}"#.utf8), "application/json", "owner"),
                ("truncated protobuf", [0x0A, 0x10, 0x61, 0x62], "application/x-protobuf", "nkudo.v1.CreateTenantRequest"),
                ("protobuf wrong wire type", [0x0D, 0x00, 0x00, 0x00, 0x00], "application/x-protobuf", "nkudo.v1.CreateTenantRequest"),
            ]
            for (name, body, contentType, mentions) in cases {
                let response = try await router.send(.post, "/tenants", body: body, headers: [("Content-Type", contentType), admin])
                #expect(response.status == .badRequest, "\(name): \(response.text)")
                let error = try Self.object(response)
                #expect(error["code"] == "invalid_argument")
                let message = error["error"] ?? ""
                #expect(message.hasPrefix("malformed request: "), "\(name): \(message)")
                #expect(message.contains(mentions), "\(name) names \(mentions): \(message)")
                for leak in ["Swift.", "DecodingError", "NKudoWire", "protobuf_c"] {
                    #expect(!message.contains(leak), "\(name): \(message)")
                }
            }
        }
    }

    @Test("missing or wrong credentials are 401 unauthenticated, on REST and on Connect")
    func unauthenticated() async throws {
        try await Self.withRouter { router in
            let tenant = try await router.tenant()
            let cases: [(String, TestResponse, String)] = try await [
                ("no admin key", router.json(.post, "/tenants", #"{"slug": "x", "name": "x"}"#), "invalid admin key"),
                ("wrong admin key", router.json(.post, "/tenants", #"{"slug": "x", "name": "x"}"#, headers: [("X-Admin-Key", "nope")]),
                 "invalid admin key"),
                ("no API key", router.send(.get, "/tenants/\(tenant.id)/sites"), "missing api key"),
                ("wrong API key", router.send(.get, "/tenants/\(tenant.id)/sites", headers: [("X-API-Key", "nk_wrong")]), "invalid api key"),
                ("admin key for a tenant route", router.send(.get, "/tenants/\(tenant.id)/sites", headers: [("X-Admin-Key", router.adminKey)]),
                 "missing api key"),
                ("no client certificate", router.json(.post, "/v1/heartbeat", "{}"), "missing client certificate"),
            ]
            for (name, response, message) in cases {
                #expect(response.status == .unauthorized, "\(name): \(response.text)")
                let error = try Self.object(response)
                #expect(error["code"] == "unauthenticated" && error["error"] == message, "\(name): \(response.text)")
            }
            let connect = try await router.json(.post, "/nkudo.v1.TenantService/ListSites", #"{"tenant_id": "\#(tenant.id)"}"#)
            #expect(connect.status == .unauthorized)
            let connectError = try ConnectProtocolTests.error(connect)
            #expect(connectError.code == "unauthenticated" && connectError.message == "missing api key")
        }
    }

    @Test("another tenant's site or execution is 404, another tenant's path 403, a malformed id 404")
    func tenantIsolation() async throws {
        try await Self.withRouter { router in
            let a = try await router.tenant(slug: "a")
            let b = try await router.tenant(slug: "b")
            let bKey = ("X-API-Key", b.apiKey)
            for path in ["/sites/\(a.siteID)/hosts", "/sites/\(a.siteID)/vms", "/sites/\(a.siteID)/status"] {
                let response = try await router.send(.get, path, headers: [bKey])
                #expect(response.status == .notFound, "\(path): \(response.text)")
                #expect(try Self.object(response)["error"] == "site not found")
            }
            let plan = try await router.json(.post, "/sites/\(a.siteID)/plans", #"{"idempotency_key": "k", "actions": [{"operation": "CREATE"}]}"#,
                                             headers: [bKey])
            #expect(plan.status == .notFound)
            let retire = try await router.send(.delete, "/sites/\(a.siteID)/hosts/\(UUID().uuidString.lowercased())", headers: [bKey])
            #expect(retire.status == .notFound)
            let logs = try await router.send(.get, "/executions/\(UUID().uuidString.lowercased())/logs?limit=5", headers: [bKey])
            #expect(logs.status == .notFound)
            #expect(try Self.object(logs)["error"] == "execution not found")
            for malformed in ["not-a-uuid", "%27%3B%20DROP%20TABLE%20sites", String(repeating: "9", count: 300)] {
                let response = try await router.send(.get, "/sites/\(malformed)/hosts", headers: [bKey])
                #expect(response.status == .notFound, "\(malformed): \(response.text)")
            }
            let foreignTenant = try await router.send(.get, "/tenants/\(a.id)/sites", headers: [bKey])
            #expect(foreignTenant.status == .forbidden)
            #expect(try Self.object(foreignTenant)["code"] == "permission_denied")
            let connect = try await router.json(.post, "/nkudo.v1.TenantService/ListHosts", #"{"site_id": "\#(a.siteID)"}"#, headers: [bKey])
            #expect(connect.status == .notFound)
            let notFound = try ConnectProtocolTests.error(connect)
            #expect(notFound.code == "not_found" && notFound.message == "site not found")
            // The owner still sees its site.
            #expect(try await router.send(.get, "/sites/\(a.siteID)/hosts", headers: [("X-API-Key", a.apiKey)]).status == .ok)
        }
    }

    @Test("a duplicate site name or tenant slug is 409 already_exists")
    func conflicts() async throws {
        try await Self.withRouter { router in
            let tenant = try await router.tenant(site: "zrh-1")
            let duplicate = try await router.json(.post, "/tenants/\(tenant.id)/sites", #"{"name": "zrh-1"}"#, headers: [("X-API-Key", tenant.apiKey)])
            #expect(duplicate.status == .conflict)
            let error = try Self.object(duplicate)
            #expect(error["code"] == "already_exists" && error["error"] == "site already exists")
            let connect = try await router.json(.post, "/nkudo.v1.TenantService/CreateSite", #"{"tenant_id": "\#(tenant.id)", "name": "zrh-1"}"#,
                                                headers: [("X-API-Key", tenant.apiKey)])
            #expect(connect.status == .conflict)
            let exists = try ConnectProtocolTests.error(connect)
            #expect(exists.code == "already_exists" && exists.message == "site already exists")
            let slug = "dup-\(UUID().uuidString.prefix(8).lowercased())"
            let admin = ("X-Admin-Key", router.adminKey)
            #expect(try await router.json(.post, "/tenants", #"{"slug": "\#(slug)", "name": "x"}"#, headers: [admin]).status == .created)
            let again = try await router.json(.post, "/tenants", #"{"slug": "\#(slug)", "name": "x"}"#, headers: [admin])
            #expect(again.status == .conflict)
            #expect(try Self.object(again)["error"] == "tenant slug already exists")
        }
    }

    @Test("error bodies: {error, code, request_id} on REST in the negotiated format, {code, message} on Connect; X-Request-ID echoed")
    func errorBodyShape() async throws {
        try await Self.withRouter { router in
            let rest = try await router.send(.get, "/tenants/\(UUID().uuidString.lowercased())/sites", headers: [("X-Request-ID", "req-router-1")])
            #expect(rest.status == .unauthorized)
            #expect(rest.headers[.contentType] == "application/json")
            #expect(rest.headers[.xRequestID] == "req-router-1")
            #expect(try Self.object(rest) == ["error": "missing api key", "code": "unauthenticated", "request_id": "req-router-1"])

            let generated = try await router.send(.get, "/no/such/route")
            let requestID = try #require(generated.headers[.xRequestID])
            #expect(UUID(uuidString: requestID) != nil)
            #expect(try Self.object(generated)["request_id"] == requestID)

            let binary = try await router.send(.post, "/tenants", body: try CreateTenantRequest(slug: "x", name: "x").serializedBytes(), headers: [
                ("Content-Type", "application/x-protobuf"), ("Accept", "application/x-protobuf"), ("X-Request-ID", "req-router-2"),
            ])
            #expect(binary.status == .unauthorized)
            #expect(binary.headers[.contentType] == "application/x-protobuf")
            let message = try ErrorMessage(serializedBytes: binary.bytes)
            #expect(message == ErrorMessage(error: "invalid admin key", code: "unauthenticated", requestId: "req-router-2"))

            let connect = try await router.send(.post, "/nkudo.v1.AdminService/CreateTenant", body: try CreateTenantRequest(slug: "x").serializedBytes(),
                                                headers: [("Content-Type", "application/proto"), ("X-Admin-Key", router.adminKey)])
            #expect(connect.status == .badRequest)
            #expect(connect.headers[.contentType] == "application/json", "Connect errors are JSON whatever the request's format")
            let connectError = try ConnectProtocolTests.error(connect)
            #expect(connectError.code == "invalid_argument" && connectError.detail?.code == "invalid_argument")
        }
    }
}

extension TestResponse {
    /// The body's bytes.
    var bytes: [UInt8] { Array(body.readableBytesView) }
    /// The body as text, for failure messages.
    var text: String { "\(status.code) \(String(decoding: bytes, as: UTF8.self))" }
}
