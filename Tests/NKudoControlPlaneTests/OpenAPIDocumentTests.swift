import ControlPlaneTestSupport
import Foundation
import NIOHTTP1
import NKudoContract
import Testing

/// `GET /openapi.json`: the generated document, served as JSON, describing every route
/// the server registers from the same contract.
@Suite("OpenAPI document")
struct OpenAPIDocumentTests {
    @Test("served at GET /openapi.json as application/json, without credentials")
    func served() async throws {
        let harness = try await ControlPlaneHarness()
        do {
            let client = try harness.client()
            let response = try await harness.send(client, .GET, "/openapi.json")
            #expect(response.status == 200)
            #expect(response.headers.first(name: "Content-Type") == "application/json")
            #expect(response.body == Array(ContractOpenAPI.json.utf8))
            let head = try await harness.send(client, .HEAD, "/openapi.json")
            #expect(head.status == 200)
            #expect(head.body.isEmpty)
            let post = try await harness.send(client, .POST, "/openapi.json", body: Array("{}".utf8), headers: [("Content-Type", "application/json")])
            #expect(post.status == 404)
        } catch {
            await harness.shutdown()
            throw error
        }
        await harness.shutdown()
    }

    @Test("every route of the server is an operation with its success status and its caller's security scheme")
    func describesEveryRoute() throws {
        let document = try #require(try JSONSerialization.jsonObject(with: Data(ContractOpenAPI.json.utf8)) as? [String: Any])
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        let schemes: [RPCCaller: String] = [.admin: "AdminKey", .tenant: "TenantAPIKey", .agent: "AgentCertificate"]
        var operations = 0
        for method in ContractRegistry.methods {
            for binding in method.bindings {
                let operation = try #require(paths[binding.path]?[binding.method.lowercased()] as? [String: Any],
                                             "\(binding.method) \(binding.path) is not in the document")
                operations += 1
                let responses = try #require(operation["responses"] as? [String: Any])
                #expect(responses[String(binding.successStatus)] != nil)
                let security = try #require(operation["security"] as? [[String: [String]]])
                #expect(security.flatMap(\.keys) == schemes[method.caller].map { [$0] } ?? [], "\(binding.path)")
                #expect((operation["requestBody"] != nil) == (binding.body == "*"), "\(binding.path)")
            }
        }
        // Nothing else: the document has exactly the server's HTTP bindings.
        #expect(paths.values.map(\.count).reduce(0, +) == operations)
    }
}
