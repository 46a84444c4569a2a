import ControlPlaneTestSupport
import Foundation
import NIOHTTP1
import NKudoStore
import NKudoContract
@testable import NKudoControlPlane
import Testing

/// Bad input on every route answers 4xx with an error body, and the server stays healthy.
@Suite("Bad input", .serialized)
struct BadInputTests {
    @Test("malformed JSON, random protobuf, oversized bodies, wrong content types, bad ids, bad routes")
    func everyRouteRejectsBadInput() async throws {
        let harness = try await ControlPlaneHarness { $0.maxBodyBytes = 64 * 1024 }
        do {
            let fleet = try await Fleet.create(harness)
            let agent = try await fleet.enrollAgent()
            let agentClient = try harness.client(certificatePEM: agent.response.clientCertificatePem, keyPEM: agent.keyPEM)
            let plainClient = try harness.client()
            var generator = SystemRandomNumberGenerator()
            for method in ContractRegistry.methods {
                for binding in method.bindings {
                    let path = binding.path.replacingOccurrences(of: "{tenant_id}", with: fleet.tenant.id)
                        .replacingOccurrences(of: "{site_id}", with: fleet.site.id)
                        .replacingOccurrences(of: "{execution_id}", with: "not-a-uuid")
                    let client = method.caller == .agent ? agentClient : plainClient
                    let auth: [(String, String)] = switch method.caller {
                    case .admin: [("X-Admin-Key", harness.configuration.adminKey!)]
                    case .tenant: [("X-API-Key", fleet.apiKey)]
                    default: []
                    }
                    let label = "\(binding.method) \(binding.path)"
                    guard binding.body == "*" else {
                        if path.contains("not-a-uuid") {
                            let response = try await harness.send(client, .GET, path, headers: auth)
                            #expect(response.status == 404, "\(label) bad id: \(response.status)")
                        }
                        continue
                    }
                    let cases: [(String, [UInt8], String, Set<Int>)] = [
                        ("malformed JSON", Array("{\"a\": ".utf8), "application/json", [400]),
                        ("JSON array", Array("[1,2]".utf8), "application/json", [400]),
                        ("random protobuf", (0..<64).map { _ in UInt8.random(in: 0...255, using: &generator) }, "application/x-protobuf", [400, 401, 404, 409]),
                        ("wrong content type", Array("{}".utf8), "text/plain", [415]),
                        ("oversized", Array(repeating: UInt8(ascii: " "), count: 80 * 1024), "application/json", [413]),
                    ]
                    for (name, body, contentType, expected) in cases {
                        let response = try await harness.send(client, .init(rawValue: binding.method), path, body: body,
                                                              headers: auth + [("Content-Type", contentType)])
                        #expect(expected.contains(response.status), "\(label) \(name): \(response.status)")
                        #expect(response.status < 500)
                        if response.status != 413 {
                            #expect(String(decoding: response.body, as: UTF8.self).contains("\"error\""), "\(label) \(name) has no error body")
                        }
                    }
                }
            }
            let notFound = try await harness.send(plainClient, .GET, "/no/such/route")
            #expect(notFound.status == 404)
            let wrongMethod = try await harness.send(plainClient, .DELETE, "/healthz")
            #expect(wrongMethod.status == 405)
            #expect(wrongMethod.headers["Allow"].first == "GET")
            let connect = try await harness.send(plainClient, .POST, "/nkudo.v1.HealthService/Check", body: Array("{}".utf8),
                                                 headers: [("Content-Type", "text/xml")])
            #expect(connect.status == 415)
            let health = try await harness.send(plainClient, .GET, "/healthz")
            #expect(health.status == 200)
            #expect(!health.headers["X-Request-ID"].isEmpty)
            let echoed = try await harness.send(plainClient, .GET, "/healthz", headers: [("X-Request-ID", "trace-123")])
            #expect(echoed.headers["X-Request-ID"].first == "trace-123")
        } catch {
            await harness.shutdown()
            throw error
        }
        await harness.shutdown()
    }
}
