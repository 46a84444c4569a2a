import Foundation
import HTTPTypes
import HummingbirdTesting
import NKudoContract
import NKudoGzip
@testable import NKudoControlPlane
import Testing

/// gRPC and gRPC-Web on the Connect paths, in process: framing, trailers, status codes,
/// deadlines, compression, bad input; the health and reflection services.
@Suite("gRPC (in process)")
struct GRPCProtocolTests {
    typealias Router = RouterTests.Router

    /// A gRPC call's outcome: the messages of the body and the status.
    struct Call {
        let response: TestResponse
        let messages: [[UInt8]]
        let status: String?
        let message: String?
    }

    /// One gRPC (or gRPC-Web) call with `body` as the raw request body.
    static func call(_ router: Router, _ path: String, body: [UInt8], contentType: String = "application/grpc+proto",
                     headers: [(String, String)] = []) async throws -> Call {
        let response = try await router.send(.post, path, body: body, headers: [("Content-Type", contentType)] + headers)
        let text = contentType.lowercased().hasPrefix("application/grpc-web-text")
        var frames = try GRPCFraming.frames(text ? GRPCWebText.decode(response.bytes) : response.bytes, limit: 1 << 24)
        var trailers = response.trailerHeaders ?? HTTPFields()
        if contentType.hasPrefix("application/grpc-web"), let last = frames.last, last.flags == GRPCFraming.trailersFlag {
            frames.removeLast()
            for line in String(decoding: last.payload, as: UTF8.self).split(separator: "\r\n") {
                let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                trailers.append(HTTPField(name: try #require(HTTPField.Name(parts[0])), value: parts[1]))
            }
        }
        return Call(response: response, messages: frames.map(\.payload), status: trailers[.grpcStatus],
                    message: trailers[.grpcMessage]?.removingPercentEncoding)
    }

    /// A unary call with a message.
    static func call(_ router: Router, _ path: String, _ message: some ProtoMessage, contentType: String = "application/grpc+proto",
                     headers: [(String, String)] = []) async throws -> Call {
        try await call(router, path, body: GRPCFraming.frame(try message.serializedBytes()), contentType: contentType, headers: headers)
    }

    @Test("a unary call: one framed message in, one out, grpc-status 0 in the trailers; the same RPC as REST")
    func unary() async throws {
        try await RouterTests.withRouter { router in
            let tenant = try await router.tenant(site: "zrh-1")
            let call = try await Self.call(router, "/nkudo.v1.TenantService/ListSites", ListSitesRequest(tenantId: tenant.id),
                                           headers: [("x-api-key", tenant.apiKey)])
            #expect(call.response.status == .ok)
            #expect(call.response.headers[.contentType] == "application/grpc+proto")
            #expect(call.status == "0", "\(call.message ?? "")")
            #expect(call.messages.count == 1)
            #expect(try ListSitesResponse(serializedBytes: try #require(call.messages.first)).sites.map(\.id) == [tenant.siteID])

            let created = try await Self.call(router, "/nkudo.v1.TenantService/CreateSite", CreateSiteRequest(tenantId: tenant.id, name: "grpc-1"),
                                              contentType: "application/grpc", headers: [("x-api-key", tenant.apiKey)])
            #expect(created.status == "0")
            #expect(try Site(serializedBytes: try #require(created.messages.first)).name == "grpc-1")
            // gRPC with the JSON codec.
            let json = try await Self.call(router, "/nkudo.v1.TenantService/ListSites",
                                           body: GRPCFraming.frame(try ListSitesRequest(tenantId: tenant.id).jsonBytes()),
                                           contentType: "application/grpc+json", headers: [("x-api-key", tenant.apiKey)])
            #expect(json.response.headers[.contentType] == "application/grpc+json")
            #expect(try ListSitesResponse(jsonBytes: try #require(json.messages.first)).sites.count == 2)
        }
    }

    @Test("errors carry the Connect paths' codes as grpc-status with the message in grpc-message")
    func errors() async throws {
        try await RouterTests.withRouter { router in
            let tenant = try await router.tenant()
            let wrongKey = try await Self.call(router, "/nkudo.v1.TenantService/ListSites", ListSitesRequest(tenantId: tenant.id),
                                               headers: [("x-api-key", "nk_wrong")])
            #expect(wrongKey.response.status == .ok)
            #expect(wrongKey.status == "16")
            #expect(wrongKey.message == "invalid api key")
            #expect(wrongKey.messages.isEmpty)
            let missing = try await Self.call(router, "/nkudo.v1.TenantService/ListHosts", ListHostsRequest(siteId: UUID().uuidString.lowercased()),
                                              headers: [("x-api-key", tenant.apiKey)])
            #expect(missing.status == "5")
            let admin = try await Self.call(router, "/nkudo.v1.AdminService/CreateTenant", CreateTenantRequest(slug: "Bad Slug!", name: "x"),
                                            headers: [("x-admin-key", router.adminKey)])
            #expect(admin.status == "3", "\(admin.message ?? "")")
        }
    }

    @Test("bad bodies and headers are a gRPC status and a message, never a crash", arguments: [
        // (body, headers, expected grpc-status)
        ([0, 0, 0, 0, 10, 1, 2, 3], [(String, String)](), "3"),                       // truncated frame
        ([0, 0, 0], [], "3"),                                                          // truncated header
        ([], [], "3"),                                                                 // no message
        ([0, 0, 0, 0, 0, 0, 0, 0, 0, 0], [], "3"),                                     // two messages
        ([1, 0, 0, 0, 2, 0x0a, 0x00], [], "13"),                                       // compressed flag without grpc-encoding
        ([0x40, 0, 0, 0, 0], [], "3"),                                                 // unknown flags
        ([0, 0x7F, 0xFF, 0xFF, 0xFF], [], "8"),                                        // declared length past the limit
        ([0, 0, 0, 0, 3, 0xFF, 0xFF, 0xFF], [], "3"),                                  // not protobuf
        ([0, 0, 0, 0, 0], [("grpc-encoding", "br")], "12"),                            // unknown compression
        ([1, 0, 0, 0, 3, 1, 2, 3], [("grpc-encoding", "gzip")], "3"),                  // compressed, but not gzip
        ([0, 0, 0, 0, 0], [("grpc-timeout", "soon")], "3"),                            // malformed grpc-timeout
        ([0, 0, 0, 0, 0], [("grpc-timeout", "1n")], "4"),                              // deadline passed before the call
    ])
    func badInput(body: [UInt8], headers: [(String, String)], status: String) async throws {
        try await RouterTests.withRouter { router in
            let call = try await Self.call(router, "/nkudo.v1.HealthService/Check", body: body, headers: headers)
            #expect(call.response.status == .ok)
            #expect(call.status == status, "\(call.message ?? "")")
            #expect(!(call.message ?? "").isEmpty)
        }
    }

    @Test("a message larger than MAX_BODY_BYTES is RESOURCE_EXHAUSTED, as on REST")
    func oversized() async throws {
        try await RouterTests.withRouter({ $0.maxBodyBytes = 1024 }) { router in
            let call = try await Self.call(router, "/nkudo.v1.HealthService/Check", body: GRPCFraming.frame([UInt8](repeating: 0, count: 4096)))
            #expect(call.status == "8")
            #expect(call.message?.contains("1024") == true)
        }
    }

    @Test("gzip-compressed request messages (grpc-encoding: gzip) are accepted")
    func compressedRequest() async throws {
        try await RouterTests.withRouter { router in
            let tenant = try await router.tenant()
            let compressed = try Gzip.compress(try ListSitesRequest(tenantId: tenant.id).serializedBytes())
            let call = try await Self.call(router, "/nkudo.v1.TenantService/ListSites", body: GRPCFraming.frame(compressed, flags: 1),
                                           headers: [("x-api-key", tenant.apiKey), ("grpc-encoding", "gzip")])
            #expect(call.status == "0", "\(call.message ?? "")")
            #expect(try ListSitesResponse(serializedBytes: try #require(call.messages.first)).sites.count == 1)
        }
    }

    @Test("unknown methods and REST paths are UNIMPLEMENTED; other codecs are 415", arguments: [
        "/nkudo.v1.TenantService/Nope", "/nkudo.v1.NoService/Check", "/tenants", "/",
    ])
    func unknownMethod(path: String) async throws {
        try await RouterTests.withRouter { router in
            let call = try await Self.call(router, path, body: GRPCFraming.frame([]))
            #expect(call.status == "12")
            let thrift = try await Self.call(router, "/nkudo.v1.HealthService/Check", body: GRPCFraming.frame([]), contentType: "application/grpc+thrift")
            #expect(thrift.response.status == .unsupportedMediaType)
        }
    }

    @Test("gRPC-Web: the message, then the trailers as a frame of the body")
    func grpcWeb() async throws {
        try await RouterTests.withRouter { router in
            let tenant = try await router.tenant()
            let call = try await Self.call(router, "/nkudo.v1.TenantService/ListSites", ListSitesRequest(tenantId: tenant.id),
                                           contentType: "application/grpc-web+proto", headers: [("x-api-key", tenant.apiKey)])
            #expect(call.response.headers[.contentType] == "application/grpc-web+proto")
            #expect(call.status == "0")
            #expect(try ListSitesResponse(serializedBytes: try #require(call.messages.first)).sites.map(\.id) == [tenant.siteID])
            let denied = try await Self.call(router, "/nkudo.v1.TenantService/ListSites", ListSitesRequest(tenantId: tenant.id),
                                             contentType: "application/grpc-web", headers: [("x-api-key", "nk_wrong")])
            #expect(denied.status == "16")
            #expect(denied.messages.isEmpty)
        }
    }

    @Test("gRPC-Web text mode (grpc-web's default in browsers): base64 bodies both ways, padding inside a body, bad base64 refused")
    func grpcWebText() async throws {
        try await RouterTests.withRouter { router in
            let tenant = try await router.tenant()
            let framed = GRPCFraming.frame(try ListSitesRequest(tenantId: tenant.id).serializedBytes())
            // Sent as two chunks encoded one by one, the first padded: a streaming sender's body.
            let body = GRPCWebText.encode(Array(framed.prefix(4))) + GRPCWebText.encode(Array(framed.dropFirst(4)))
            let call = try await Self.call(router, "/nkudo.v1.TenantService/ListSites", body: body,
                                           contentType: "application/grpc-web-text", headers: [("x-api-key", tenant.apiKey)])
            #expect(call.response.status == .ok)
            #expect(call.response.headers[.contentType] == "application/grpc-web-text+proto")
            #expect(call.status == "0", "\(call.message ?? "")")
            #expect(try ListSitesResponse(serializedBytes: try #require(call.messages.first)).sites.map(\.id) == [tenant.siteID])

            let denied = try await Self.call(router, "/nkudo.v1.TenantService/ListSites", body: GRPCWebText.encode(framed),
                                             contentType: "application/grpc-web-text+proto", headers: [("x-api-key", "nk_wrong")])
            #expect(denied.status == "16")

            for bad in [Array(framed), Array("AAAA\nAAAA".utf8), GRPCWebText.encode(framed).dropLast()] {
                let malformed = try await Self.call(router, "/nkudo.v1.TenantService/ListSites", body: Array(bad),
                                                    contentType: "application/grpc-web-text", headers: [("x-api-key", tenant.apiKey)])
                #expect(malformed.status == "3")
                #expect(malformed.message?.hasPrefix("malformed gRPC-Web text body") == true, "\(malformed.message ?? "")")
                #expect(malformed.messages.isEmpty)
            }

            var question = ServerReflectionRequest()
            question.fields.setScalar(5, "")
            let reflection = try await Self.call(router, "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
                                                 body: GRPCWebText.encode(GRPCFraming.frame(try question.serializedBytes())),
                                                 contentType: "application/grpc-web-text")
            #expect(reflection.status == "0", "\(reflection.message ?? "")")
            #expect(try ServerReflectionResponse(serializedBytes: try #require(reflection.messages.first)).listServicesResponse?.names.count == 5)
        }
    }

    @Test("an unknown gRPC codec is refused by naming the codecs gRPC speaks")
    func unknownCodec() async throws {
        try await RouterTests.withRouter { router in
            let call = try await Self.call(router, "/nkudo.v1.HealthService/Check", body: GRPCFraming.frame([]), contentType: "application/grpc+thrift")
            #expect(call.response.status == .unsupportedMediaType)
            #expect(call.message == "unsupported gRPC codec in content type \"application/grpc+thrift\"; use +proto or +json")
        }
    }

    @Test("grpc.health.v1.Health/Check: SERVING while the store answers; NOT_FOUND for a service we do not serve")
    func health() async throws {
        try await RouterTests.withRouter { router in
            for service in ["", "nkudo.v1.TenantService", "grpc.health.v1.Health"] {
                var request = HealthCheckRequest()
                request.fields.setScalar(0, service)
                let call = try await Self.call(router, "/grpc.health.v1.Health/Check", request)
                #expect(call.status == "0")
                #expect(try HealthCheckResponse(serializedBytes: try #require(call.messages.first)).status == 1)
            }
            var unknown = HealthCheckRequest()
            unknown.fields.setScalar(0, "nope.Service")
            #expect(try await Self.call(router, "/grpc.health.v1.Health/Check", unknown).status == "5")
            // The same service over Connect.
            let connect = try await router.json(.post, "/grpc.health.v1.Health/Check", "{}")
            #expect(connect.status == .ok)
            #expect(String(decoding: connect.bytes, as: UTF8.self) == #"{"status":"SERVING"}"#)
        }
    }

    @Test("server reflection lists the contract's services and the health service, and serves their files with their imports, once per stream")
    func reflection() async throws {
        try await RouterTests.withRouter { router in
            func ask(_ index: Int, _ value: String) throws -> [UInt8] {
                var request = ServerReflectionRequest()
                request.fields.setScalar(index, value)
                return GRPCFraming.frame(try request.serializedBytes())
            }
            for service in GRPCReflectionService.serviceNames {
                let body = try ask(5, "") + ask(2, "nkudo.v1.TenantService") + ask(2, "nkudo.v1.Nope") + ask(1, "nkudo/v1/agent.proto")
                    + ask(2, "grpc.health.v1.Health.Check") + ask(2, "nkudo.v1.TenantService.CreateSite")
                let call = try await Self.call(router, "/\(service)/ServerReflectionInfo", body: body)
                #expect(call.status == "0", "\(call.message ?? "")")
                let answers = try call.messages.map { try ServerReflectionResponse(serializedBytes: $0) }
                #expect(answers.count == 6)
                #expect(answers[0].listServicesResponse?.names == [
                    "grpc.health.v1.Health", "nkudo.v1.AdminService", "nkudo.v1.AgentService", "nkudo.v1.HealthService", "nkudo.v1.TenantService",
                ])
                let files = try (answers[1].fileDescriptorResponse?.files ?? []).map { try FileSymbols(serializedBytes: $0).name }
                #expect(files.first == "nkudo/v1/tenant.proto")
                #expect(files.contains("nkudo/api/http.proto") && files.contains("google/protobuf/descriptor.proto"))
                #expect(answers[2].errorResponse?.code == 5)
                #expect(answers[3].fileDescriptorResponse?.files.isEmpty == false)
                let health = try (answers[4].fileDescriptorResponse?.files ?? []).map { try FileSymbols(serializedBytes: $0) }
                #expect(health.map(\.name) == ["grpc/health/v1/health.proto"])
                #expect(health.first?.services.map(\.name) == ["Health"])
                #expect(health.first?.messages.map(\.name) == ["HealthCheckRequest", "HealthCheckResponse"])
                let again = try (answers[5].fileDescriptorResponse?.files ?? []).map { try FileSymbols(serializedBytes: $0).name }
                #expect(again == ["nkudo/v1/tenant.proto"], "imports go once per stream, the file asked for every time")
            }
        }
    }
}
