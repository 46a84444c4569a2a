import Foundation
import HTTPTypes
import HummingbirdTesting
import NKudoContract
import NKudoGzip
@testable import NKudoControlPlane
import Testing

/// The Connect unary protocol's parts beyond POST: GET for side-effect-free methods,
/// protocol version, timeouts, gzip, the JSON error with details and Connect's status mapping.
@Suite("Connect protocol (in process)")
struct ConnectProtocolTests {
    /// `bytes` in unpadded URL-safe base64.
    static func base64URL(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    @Test("GET for NO_SIDE_EFFECTS methods: message/encoding/base64/compression query parameters")
    func get() async throws {
        try await RouterTests.withRouter { router in
            let tenant = try await router.tenant()
            let key = ("X-API-Key", tenant.apiKey)
            let proto = try ListSitesRequest(tenantId: tenant.id).serializedBytes()
            let binary = try await router.send(.get, "/nkudo.v1.TenantService/ListSites?encoding=proto&base64=1&connect=v1&message=\(Self.base64URL(proto))",
                                               headers: [key])
            #expect(binary.status == .ok, "\(binary.text)")
            #expect(binary.headers[.contentType] == "application/proto")
            #expect(try ListSitesResponse(serializedBytes: binary.bytes).sites.map(\.id) == [tenant.siteID])

            let json = #"{"tenant_id":"\#(tenant.id)"}"#.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
            let viaJSON = try await router.send(.get, "/nkudo.v1.TenantService/ListSites?encoding=json&message=\(json)", headers: [key])
            #expect(viaJSON.status == .ok, "\(viaJSON.text)")
            #expect(try ListSitesResponse(jsonBytes: viaJSON.bytes).sites.count == 1)

            let gzipped = Self.base64URL(try Gzip.compress(proto))
            let compressed = try await router.send(.get, "/nkudo.v1.TenantService/ListSites?encoding=proto&base64=1&compression=gzip&message=\(gzipped)",
                                                   headers: [key])
            #expect(compressed.status == .ok, "\(compressed.text)")

            let health = try await router.send(.get, "/nkudo.v1.HealthService/Check?encoding=json")
            #expect(health.status == .ok, "no message: the empty request")

            let badEncoding = try await router.send(.get, "/nkudo.v1.HealthService/Check?encoding=xml")
            #expect(badEncoding.status == .unsupportedMediaType)
            let badBase64 = try await router.send(.get, "/nkudo.v1.HealthService/Check?encoding=proto&base64=1&message=%21%21")
            #expect(badBase64.status == .badRequest)
            let badVersion = try await router.send(.get, "/nkudo.v1.HealthService/Check?encoding=json&connect=v2")
            #expect(badVersion.status == .badRequest)
            // Methods with side effects are POST only.
            let create = try await router.send(.get, "/nkudo.v1.TenantService/CreateSite?encoding=json&message=%7B%7D", headers: [key])
            #expect(create.status == .methodNotAllowed)
            #expect(create.headers[.allow] == "POST")
        }
    }

    @Test("Connect-Protocol-Version must be 1; Connect-Timeout-Ms is honoured (504 deadline_exceeded)")
    func headers() async throws {
        try await RouterTests.withRouter { router in
            let ok = try await router.json(.post, "/nkudo.v1.HealthService/Check", "{}", headers: [("Connect-Protocol-Version", "1")])
            #expect(ok.status == .ok)
            let version = try await router.json(.post, "/nkudo.v1.HealthService/Check", "{}", headers: [("Connect-Protocol-Version", "2")])
            #expect(version.status == .badRequest)
            #expect(try Self.error(version).code == "invalid_argument")
            let generous = try await router.json(.post, "/nkudo.v1.HealthService/Check", "{}", headers: [("Connect-Timeout-Ms", "10000")])
            #expect(generous.status == .ok)
            let expired = try await router.json(.post, "/nkudo.v1.HealthService/Check", "{}", headers: [("Connect-Timeout-Ms", "0")])
            #expect(expired.status == .gatewayTimeout)
            #expect(try Self.error(expired).code == "deadline_exceeded")
            for bad in ["soon", "-1", "12345678901"] {
                let response = try await router.json(.post, "/nkudo.v1.HealthService/Check", "{}", headers: [("Connect-Timeout-Ms", bad)])
                #expect(response.status == .badRequest, "\(bad)")
            }
        }
    }

    @Test("gzip: compressed requests (Content-Encoding), compressed responses when Accept-Encoding allows")
    func compression() async throws {
        try await RouterTests.withRouter { router in
            let tenant = try await router.tenant()
            let key = ("X-API-Key", tenant.apiKey)
            for index in 0..<20 {
                let body = try Gzip.compress(Array(#"{"tenant_id":"\#(tenant.id)","name":"site-with-a-long-name-\#(index)"}"#.utf8))
                let created = try await router.send(.post, "/nkudo.v1.TenantService/CreateSite", body: body,
                                                    headers: [("Content-Type", "application/json"), ("Content-Encoding", "gzip"), key])
                #expect(created.status == .ok, "\(created.text)")
            }
            let list = Array(#"{"tenant_id":"\#(tenant.id)"}"#.utf8)
            let compressed = try await router.send(.post, "/nkudo.v1.TenantService/ListSites", body: list,
                                                   headers: [("Content-Type", "application/json"), ("Accept-Encoding", "br, gzip"), key])
            #expect(compressed.headers[.contentEncoding] == "gzip")
            #expect(try ListSitesResponse(jsonBytes: try Gzip.decompress(compressed.bytes, limit: 1 << 20)).sites.count == 21)
            let plain = try await router.send(.post, "/nkudo.v1.TenantService/ListSites", body: list,
                                              headers: [("Content-Type", "application/json"), key])
            #expect(plain.headers[.contentEncoding] == nil)
            #expect(try ListSitesResponse(jsonBytes: plain.bytes).sites.count == 21)

            let brotli = try await router.send(.post, "/nkudo.v1.HealthService/Check", body: Array("{}".utf8),
                                               headers: [("Content-Type", "application/json"), ("Content-Encoding", "br")])
            #expect(brotli.status == .notImplemented)
            #expect(try Self.error(brotli).code == "unimplemented")
            let notGzip = try await router.send(.post, "/nkudo.v1.HealthService/Check", body: Array("{}".utf8),
                                                headers: [("Content-Type", "application/json"), ("Content-Encoding", "gzip")])
            #expect(notGzip.status == .badRequest)
        }
    }

    @Test("Accept-Encoding: gzip by name or by *, unless its weight is 0 in any spelling", arguments: [
        ("gzip", true), ("GZIP", true), ("identity, gzip;q=0.5", true), ("x-gzip", true), ("*", true), ("br, *;q=0.1", true),
        ("gzip;q=0", false), ("gzip; q=0.0", false), ("gzip;q=0.000", false), ("gzip;q=abc", false), ("*;q=0", false),
        ("gzip;q=0, *", false), ("identity", false), ("", false), ("gzipx", false),
    ])
    func acceptEncoding(header: String, accepted: Bool) {
        #expect(ControlPlaneResponder.accepts(gzip: header) == accepted)
    }

    @Test("errors are Connect's JSON error with our nkudo.v1.Error as a detail; statuses per Connect's code mapping; a missing tenant_id is invalid_argument")
    func errors() async throws {
        try await RouterTests.withRouter { router in
            let response = try await router.json(.post, "/nkudo.v1.TenantService/ListSites", #"{"tenant_id": "x"}"#,
                                                 headers: [("X-API-Key", "nk_wrong"), ("X-Request-ID", "req-connect-1")])
            #expect(response.status == .unauthorized)
            let error = try Self.error(response)
            #expect(error.code == "unauthenticated" && error.message == "invalid api key")
            #expect(error.detail?.requestId == "req-connect-1", "\(response.text)")
            #expect(error.detail?.code == "unauthenticated")
        }
        try await RouterTests.withRouter { router in
            let tenant = try await router.tenant()
            for body in [#"{}"#, #"{"tenant_id": ""}"#, #"{"tenant_id": "  "}"#] {
                let response = try await router.json(.post, "/nkudo.v1.TenantService/ListSites", body, headers: [("X-API-Key", tenant.apiKey)])
                #expect(response.status == .badRequest, "\(body): \(response.text)")
                #expect(try Self.error(response).code == "invalid_argument")
            }
        }
        #expect(APIError.connectStatus(for: "deadline_exceeded") == .gatewayTimeout)
        #expect(APIError.connectStatus(for: "canceled").code == 499)
        #expect(APIError.connectStatus(for: "failed_precondition") == .badRequest)
        #expect(APIError.connectStatus(for: "unimplemented") == .notImplemented)
        #expect(APIError.connectStatus(for: "resource_exhausted") == .tooManyRequests)
    }

    /// A Connect JSON error: code, message and the decoded `nkudo.v1.Error` detail.
    static func error(_ response: TestResponse) throws -> (code: String, message: String, detail: ErrorMessage?) {
        let object = try #require(try JSONSerialization.jsonObject(with: Data(response.bytes)) as? [String: Any], "\(response.text)")
        var detail: ErrorMessage?
        if let details = object["details"] as? [Any], let first = details.first as? [String: Any],
           first["type"] as? String == ErrorMessage.protoMessageSchema.fullName, var value = first["value"] as? String {
            while value.count % 4 != 0 { value += "=" }
            detail = try ErrorMessage(serializedBytes: Array(try #require(Data(base64Encoded: value))))
        }
        return (object["code"] as? String ?? "", object["message"] as? String ?? "", detail)
    }
}
