import Foundation
import NKudoCodeGen
import Testing

/// The OpenAPI document the generator renders: the real contract's bindings, schemas,
/// errors and security, and the constructs of the sample contract.
@Suite("OpenAPI renderer")
struct OpenAPIRendererTests {
    /// The contract's models, as the generator builds them for protoc.
    static func models(_ files: [String]) throws -> [ContractFile] {
        let request = try CodeGeneratorTests.request(for: files)
        let builder = ModelBuilder(files: request.protoFiles)
        let byName = Dictionary(request.protoFiles.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        return try request.filesToGenerate.map { name in try builder.build(try #require(byName[name])) }
    }

    /// Every `.proto` of the real contract, relative to `proto/`.
    static var contractFiles: [String] {
        get throws {
            let root = CodeGeneratorTests.protoRoot
            let files = try FileManager.default.subpathsOfDirectory(atPath: root.path).filter { $0.hasSuffix(".proto") }
            return files.sorted()
        }
    }

    static func document(_ files: [String]) throws -> [String: Any] {
        let json = try OpenAPIRenderer.render(try models(files))
        return try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
    }

    /// The operation at `path` and `method`.
    static func operation(_ document: [String: Any], _ method: String, _ path: String) throws -> [String: Any] {
        let paths = try #require(document["paths"] as? [String: Any])
        let item = try #require(paths[path] as? [String: Any], "no path \(path)")
        return try #require(item[method.lowercased()] as? [String: Any], "no \(method) \(path)")
    }

    /// Every `$ref` in a JSON value.
    static func references(in value: Any) -> [String] {
        if let object = value as? [String: Any] {
            let own = (object["$ref"] as? String).map { [$0] } ?? []
            return own + object.values.flatMap(references)
        }
        if let array = value as? [Any] { return array.flatMap(references) }
        return []
    }

    @Test("every binding of every RPC of the contract is a path and method with its success status, caller and operation id")
    func everyBinding() throws {
        let files = try Self.contractFiles
        let models = try Self.models(files)
        let document = try Self.document(files)
        #expect(document["openapi"] as? String == "3.1.0")
        var operationIDs: [String] = []
        var count = 0
        for method in models.flatMap(\.services).flatMap(\.methods) {
            for binding in method.bindings {
                let operation = try Self.operation(document, binding.method, binding.path)
                count += 1
                operationIDs.append(try #require(operation["operationId"] as? String))
                let responses = try #require(operation["responses"] as? [String: Any])
                #expect(responses[String(binding.successStatus)] != nil, "\(binding.path): success status \(binding.successStatus)")
                #expect(responses["500"] != nil)
                let security = try #require(operation["security"] as? [[String: [String]]])
                let expected: [String: String] = ["admin": "AdminKey", "tenant": "TenantAPIKey", "agent": "AgentCertificate"]
                #expect(security.flatMap(\.keys) == expected[method.caller].map { [$0] } ?? [], "\(binding.path)")
            }
        }
        #expect(count >= 20)
        #expect(Set(operationIDs).count == operationIDs.count)
        // The legacy paths are there next to the primary ones.
        let legacy = try Self.operation(document, "POST", "/agents/heartbeat")
        #expect(legacy["operationId"] as? String == "AgentService_Heartbeat_binding2")
        _ = try Self.operation(document, "POST", "/enroll")
    }

    @Test("every schema reference resolves and the error responses use the Error message")
    func references() throws {
        let document = try Self.document(try Self.contractFiles)
        let components = try #require(document["components"] as? [String: Any])
        let schemas = try #require(components["schemas"] as? [String: Any])
        for reference in Self.references(in: document) {
            let parts = reference.split(separator: "/").map(String.init)
            #expect(parts.count == 4 && parts[0] == "#" && parts[1] == "components", "\(reference)")
            #expect(["schemas", "responses", "headers"].contains(parts[2]), "\(reference)")
            #expect((components[parts[2]] as? [String: Any])?[parts[3]] != nil, "\(reference) does not resolve")
        }
        // Only what the operations use: the extension option types are not in the document.
        #expect(schemas["nkudo.api.HttpRule"] == nil)
        let schemes = try #require(components["securitySchemes"] as? [String: [String: String]])
        #expect(schemes["AdminKey"]?["type"] == "apiKey")
        #expect(schemes["AdminKey"]?["in"] == "header")
        #expect(schemes["AdminKey"]?["name"] == "X-Admin-Key")
        #expect(schemes["TenantAPIKey"]?["name"] == "X-API-Key")
        #expect(schemes["AgentCertificate"]?["type"] == "mutualTLS")

        let createSite = try Self.operation(document, "POST", "/tenants/{tenant_id}/sites")
        let responses = try #require(createSite["responses"] as? [String: [String: Any]])
        #expect(Set(responses.keys) == ["201", "400", "401", "403", "404", "413", "415", "500", "default"])
        #expect(responses["403"]?["$ref"] as? String == "#/components/responses/PermissionDenied")
        let errors = try #require(components["responses"] as? [String: Any])
        #expect(errors.count == 8)
        for (name, response) in errors {
            #expect(Self.references(in: response).contains("#/components/schemas/nkudo.v1.Error"), "\(name)")
        }
        let health = try Self.operation(document, "GET", "/healthz")
        let healthResponses = try #require(health["responses"] as? [String: Any])
        #expect(Set(healthResponses.keys) == ["200", "500", "default"])
        #expect((health["security"] as? [Any])?.isEmpty == true)
    }

    @Test("messages in proto3 JSON: int64 as string, enums by name, timestamps, repeated, maps, optional")
    func messageSchemas() throws {
        let document = try Self.document(try Self.contractFiles)
        let schemas = try #require((document["components"] as? [String: Any])?["schemas"] as? [String: Any])
        let response = try #require(schemas["nkudo.v1.ApplyPlanResponse"] as? [String: Any])
        #expect(response["type"] as? String == "object")
        #expect(response["required"] == nil)
        let properties = try #require(response["properties"] as? [String: [String: Any]])
        #expect(Set(properties.keys) == ["plan_id", "plan_version", "plan_status", "deduplicated", "executions"])
        #expect(properties["plan_version"]?["type"] as? String == "string")
        #expect(properties["plan_version"]?["format"] as? String == "int64")
        #expect(properties["plan_status"]?["$ref"] as? String == "#/components/schemas/nkudo.v1.Plan.Status")
        #expect(properties["deduplicated"]?["type"] as? String == "boolean")
        #expect(properties["executions"]?["type"] as? String == "array")
        #expect((properties["executions"]?["items"] as? [String: String])?["$ref"] == "#/components/schemas/nkudo.v1.Execution")

        let status = try #require(schemas["nkudo.v1.Plan.Status"] as? [String: Any])
        #expect(status["type"] as? String == "string")
        #expect((status["enum"] as? [String])?.contains("PENDING") == true)

        let enroll = try #require((schemas["nkudo.v1.EnrollRequest"] as? [String: Any])?["properties"] as? [String: [String: Any]])
        #expect(enroll["labels"]?["type"] as? String == "object")
        #expect((enroll["labels"]?["additionalProperties"] as? [String: String])?["type"] == "string")
        let enrolled = try #require((schemas["nkudo.v1.EnrollResponse"] as? [String: Any])?["properties"] as? [String: [String: Any]])
        #expect(enrolled["certificate_expires_at"]?["format"] as? String == "date-time")
        #expect(enrolled["heartbeat_interval_seconds"]?["type"] as? String == "integer")
        let logs = try #require((schemas["nkudo.v1.ListExecutionLogsResponse"] as? [String: Any])?["properties"] as? [String: [String: Any]])
        #expect(logs["next_cursor"]?["type"] as? String == "string")
    }

    @Test("path parameters from the template, query parameters for bindings without a body, request bodies")
    func parameters() throws {
        let document = try Self.document(try Self.contractFiles)
        let logs = try Self.operation(document, "GET", "/executions/{execution_id}/logs")
        let parameters = try #require(logs["parameters"] as? [[String: Any]])
        #expect(parameters.map { $0["name"] as? String } == ["execution_id", "limit", "cursor"])
        #expect(parameters.map { $0["in"] as? String } == ["path", "query", "query"])
        #expect(parameters[0]["required"] as? Bool == true)
        #expect((parameters[1]["schema"] as? [String: Any])?["type"] as? String == "integer")
        #expect(logs["requestBody"] == nil)

        let plans = try Self.operation(document, "POST", "/sites/{site_id}/plans")
        let body = try #require(plans["requestBody"] as? [String: Any])
        #expect(body["required"] as? Bool == true)
        #expect(Self.references(in: body) == ["#/components/schemas/nkudo.v1.ApplyPlanRequest"])
        #expect((plans["parameters"] as? [[String: Any]])?.map { $0["in"] as? String } == ["path"])
    }

    @Test("the sample contract: oneofs allow at most one member, additional bindings, no Error message")
    func sample() throws {
        let document = try Self.document(["sample.proto"])
        let schemas = try #require((document["components"] as? [String: Any])?["schemas"] as? [String: Any])
        let widget = try #require(schemas["sample.v1.Widget"] as? [String: Any])
        let constraint = try #require((widget["allOf"] as? [[String: Any]])?.first)
        let branches = try #require(constraint["oneOf"] as? [[String: Any]])
        #expect(branches.count == 3)
        #expect(branches[0]["required"] as? [String] == ["url"])
        #expect(branches[1]["required"] as? [String] == ["inline_part"])
        #expect(branches[2]["not"] != nil)
        let properties = try #require(widget["properties"] as? [String: [String: Any]])
        #expect(properties["sizes"]?["type"] as? String == "array")
        let weight = try #require(((schemas["sample.v1.Widget.Part"] as? [String: Any])?["properties"] as? [String: [String: Any]])?["weight"])
        #expect(weight["type"] as? String == "string")

        let primary = try Self.operation(document, "GET", "/widgets/{widget_id}")
        let additional = try Self.operation(document, "GET", "/v0/widgets/{widget_id}")
        #expect(primary["operationId"] as? String == "WidgetService_GetWidget")
        #expect(additional["operationId"] as? String == "WidgetService_GetWidget_binding2")
        #expect((additional["description"] as? String)?.contains("primary binding is `GET /widgets/{widget_id}`") == true)
        let components = try #require(document["components"] as? [String: Any])
        let errors = try #require(components["responses"] as? [String: [String: Any]])
        #expect(Set(errors.keys) == ["BadRequest", "Unauthenticated", "PermissionDenied", "NotFound", "InternalError", "OtherError"])
        #expect(errors["NotFound"]?["content"] == nil)
        let schemes = try #require(components["securitySchemes"] as? [String: Any])
        #expect(Set(schemes.keys) == ["TenantAPIKey"])
    }

    @Test("a path parameter that is not a field of the request is an error")
    func unknownPathParameter() throws {
        #expect(throws: CodeGenError.self) { try OpenAPIRenderer.render(try Self.models(["badpath.proto"])) }
    }
}
