/// Renders the OpenAPI 3.1 document of the contract's JSON surface.
///
/// - Paths: every HTTP binding of every RPC (additional bindings too), `{name}` segments
///   as path parameters; a binding without a body takes the request's other scalar
///   fields from the query string. The Connect paths are not part of the document.
/// - Schemas: one per message and enum reachable from the RPCs (plus the error body),
///   named by full proto name, in the canonical proto3 JSON mapping the server speaks:
///   proto field names, 64-bit integers as strings, enums by name, `Timestamp` as an
///   RFC 3339 `date-time` string, maps as objects, `repeated` as arrays, `bytes` as
///   base64, at most one member of a oneof. No property is required: proto3 JSON omits
///   default values.
/// - Responses: the binding's success status with the response message, and the errors
///   that apply to the operation (`components/responses`) with the `Error` message of the
///   services' package as the body.
/// - Security: the scheme of the RPC's caller (admin key header, tenant API key header,
///   agent client certificate); none for `CALLER_NONE`.
public struct OpenAPIRenderer {
    private var messages: [String: MessageModel] = [:]
    private var enums: [String: EnumModel] = [:]
    private var swiftNamesByFullName: [String: String] = [:]
    /// Swift names of the messages and enums the document refers to, in first-use order.
    private var referenced: [String] = []
    private var referencedSet: Set<String> = []
    /// The error responses the operations refer to.
    private var usedErrors: Set<ErrorResponse> = []

    /// The JSON text of the document of the services of `files`; the types they use are
    /// resolved in `files` and in `dependencies` (the other contract files they import).
    public static func render(_ files: [ContractFile], dependencies: [ContractFile] = []) throws(CodeGenError) -> String {
        var renderer = OpenAPIRenderer(files: files + dependencies)
        return try renderer.document(files).rendered()
    }

    private init(files: [ContractFile]) {
        func register(_ message: MessageModel) {
            messages[message.qualifiedSwiftName] = message
            swiftNamesByFullName[message.fullName] = message.qualifiedSwiftName
            message.messages.forEach(register)
            for nested in message.enums {
                enums[nested.qualifiedSwiftName] = nested
            }
        }
        for file in files {
            file.messages.forEach(register)
            for enumModel in file.enums {
                enums[enumModel.qualifiedSwiftName] = enumModel
            }
        }
    }

    // MARK: - Document

    private mutating func document(_ files: [ContractFile]) throws(CodeGenError) -> JSONNode {
        let services = files.flatMap(\.services)
        let packages = Array(Set(files.filter { !$0.services.isEmpty }.map(\.package))).sorted()
        var paths: [(path: String, operations: [(key: String, value: JSONNode)])] = []
        var callers: [String] = []
        for service in services {
            for method in service.methods {
                if !callers.contains(method.caller) { callers.append(method.caller) }
                for (index, binding) in method.bindings.enumerated() {
                    let operation = try self.operation(method, of: service, binding: binding, index: index)
                    let verb = binding.method.lowercased()
                    if let existing = paths.firstIndex(where: { $0.path == binding.path }) {
                        if paths[existing].operations.contains(where: { $0.key == verb }) {
                            throw CodeGenError("\(service.fullName).\(method.name): \(binding.method) \(binding.path) is bound twice")
                        }
                        paths[existing].operations.append((verb, operation))
                    } else {
                        paths.append((binding.path, [(verb, operation)]))
                    }
                }
            }
        }
        // The error body: the `Error` message of the services' package, when there is one.
        let errorSchema = services.compactMap { swiftNamesByFullName[Self.package(of: $0) + ".Error"] }.first
            .map { reference(to: $0) }
        let errorResponses = ErrorResponse.allCases.filter(usedErrors.contains).map { error in
            (key: error.componentName, value: error.response(schema: errorSchema))
        }
        var schemas: [(key: String, value: JSONNode)] = []
        var next = 0
        while next < referenced.count {
            let swiftName = referenced[next]
            next += 1
            if let message = messages[swiftName] {
                schemas.append((message.fullName, try schema(of: message)))
            } else if let enumModel = enums[swiftName] {
                schemas.append((enumModel.fullName, Self.schema(of: enumModel)))
            }
        }
        return [
            "openapi": "3.1.0",
            "info": [
                "title": "n-kudo API",
                "version": .string(packages.joined(separator: ", ")),
                "description": .string("""
                    The JSON surface of the n-kudo contract (\(files.map { "`\($0.protoPath)`" }.joined(separator: ", "))), \
                    generated from it by protoc-gen-nkudo. Every operation also accepts and returns binary protobuf \
                    (`application/x-protobuf`) and is also served at its Connect path `POST /<package>.<Service>/<Method>`.
                    """),
            ],
            "tags": .array(services.map { (["name": .string($0.name)] as JSONNode).described(Self.text($0.documentation)) }),
            "paths": .object(paths.map { (key: $0.path, value: .object($0.operations)) }),
            "components": [
                "schemas": .object(schemas.sorted { $0.key < $1.key }),
                "responses": .object(errorResponses),
                "headers": ["X-Request-ID": Self.requestIDHeader],
                "securitySchemes": .object(Self.securitySchemes.filter { callers.contains($0.caller) }.map { (key: $0.name, value: $0.scheme) }),
            ],
        ]
    }

    // MARK: - Operations

    private mutating func operation(_ method: MethodModel, of service: ServiceModel, binding: BindingModel,
                                    index: Int) throws(CodeGenError) -> JSONNode {
        guard let request = messages[method.inputSwiftName] else {
            throw CodeGenError("\(service.fullName).\(method.name): unknown request type \(method.inputSwiftName)")
        }
        let pathParameters = Self.pathParameters(binding.path)
        var parameters: [JSONNode] = []
        for name in pathParameters {
            guard let field = request.fields.first(where: { $0.name == name }) else {
                throw CodeGenError("\(service.fullName).\(method.name): path parameter {\(name)} is not a field of \(request.fullName)")
            }
            let parameter: JSONNode = ["name": .string(name), "in": "path", "required": true, "schema": try valueSchema(field.type)]
            parameters.append(parameter.described(Self.text(field.documentation)))
        }
        let hasBody = binding.body == "*"
        if !hasBody {
            for field in request.fields where !pathParameters.contains(field.name) && Self.isQueryParameter(field) {
                let parameter: JSONNode = ["name": .string(field.name), "in": "query", "required": false, "schema": try valueSchema(field.type)]
                parameters.append(parameter.described(Self.text(field.documentation)))
            }
        }
        var description = Self.text(method.documentation)
        if index > 0, let primary = method.bindings.first {
            description += "\n\nAdditional binding of `\(service.fullName).\(method.name)`, whose primary binding is `\(primary.method) \(primary.path)`."
        }
        var operation: JSONNode = [
            "operationId": .string("\(service.name)_\(method.name)" + (index > 0 ? "_binding\(index + 1)" : "")),
            "tags": [.string(service.name)],
            "summary": .string("\(service.name).\(method.name)"),
            "description": .string(description),
        ]
        if !parameters.isEmpty {
            operation = operation.adding("parameters", .array(parameters))
        }
        if hasBody {
            let policy = method.ignoresUnknownJSONFields
                ? "Unknown fields are ignored at every nesting level (known fields are still type-checked)."
                : "Unknown fields are rejected with 400."
            operation = operation.adding("requestBody", [
                "required": true,
                "description": .string("The request message `\(request.fullName)` in proto3 JSON (both proto and lowerCamel field names are accepted). \(policy)"),
                "content": ["application/json": ["schema": reference(to: method.inputSwiftName)]],
            ])
        }
        var responses: [(key: String, value: JSONNode)] = [(String(binding.successStatus), [
            "description": "Success: the response message in proto3 JSON.",
            "headers": ["X-Request-ID": ["$ref": "#/components/headers/X-Request-ID"]],
            "content": ["application/json": ["schema": reference(to: method.outputSwiftName)]],
        ])]
        var errors: [ErrorResponse] = []
        if hasBody || !parameters.isEmpty { errors.append(.badRequest) }
        if method.caller != "none" { errors.append(.unauthenticated) }
        if method.caller == "tenant" || method.caller == "agent" { errors.append(.permissionDenied) }
        if !pathParameters.isEmpty { errors.append(.notFound) }
        if hasBody { errors += [.contentTooLarge, .unsupportedMediaType] }
        errors += [.internalError, .other]
        for error in errors {
            usedErrors.insert(error)
            responses.append((error.status, ["$ref": .string("#/components/responses/\(error.componentName)")]))
        }
        operation = operation.adding("responses", .object(responses))
        // No requirement for `none` (and an empty list overrides any document-wide one).
        let schemes = Self.securitySchemes.filter { $0.caller == method.caller }
        return operation.adding("security", .array(schemes.map { .object([(key: $0.name, value: .array([]))]) }))
    }

    /// Whether the server sets the field from a query parameter of the same name: a
    /// singular scalar or enum that a query string can spell.
    private static func isQueryParameter(_ field: FieldModel) -> Bool {
        switch field.cardinality {
        case .repeated, .map: return false
        case .implicit, .explicit: break
        }
        switch field.type {
        case .enumeration: return true
        case .message: return false
        case .scalar(let name): return !["bytes", "float", "double"].contains(name)
        }
    }

    private static func pathParameters(_ path: String) -> [String] {
        path.split(separator: "/").compactMap { segment in
            segment.hasPrefix("{") && segment.hasSuffix("}") ? String(segment.dropFirst().dropLast()) : nil
        }
    }

    // MARK: - Errors and security

    /// The error responses of the document: a status (or `default`) with the error body.
    private enum ErrorResponse: CaseIterable {
        case badRequest, unauthenticated, permissionDenied, notFound, contentTooLarge, unsupportedMediaType, internalError, other

        /// The key in an operation's responses.
        var status: String {
            switch self {
            case .badRequest: return "400"
            case .unauthenticated: return "401"
            case .permissionDenied: return "403"
            case .notFound: return "404"
            case .contentTooLarge: return "413"
            case .unsupportedMediaType: return "415"
            case .internalError: return "500"
            case .other: return "default"
            }
        }

        /// The name under `components/responses`.
        var componentName: String {
            switch self {
            case .badRequest: return "BadRequest"
            case .unauthenticated: return "Unauthenticated"
            case .permissionDenied: return "PermissionDenied"
            case .notFound: return "NotFound"
            case .contentTooLarge: return "ContentTooLarge"
            case .unsupportedMediaType: return "UnsupportedMediaType"
            case .internalError: return "InternalError"
            case .other: return "OtherError"
            }
        }

        private var description: String {
            switch self {
            case .badRequest: return "Bad request: malformed JSON, a field of the wrong type, an invalid value or parameter."
            case .unauthenticated: return "Unauthenticated: missing or invalid credentials."
            case .permissionDenied:
                return "Permission denied: the credentials do not grant access to this resource (e.g. `tenant mismatch`, `agent_id mismatch`)."
            case .notFound: return "Not found: no such resource in the caller's tenant (malformed ids too)."
            case .contentTooLarge: return "The request body exceeds the limit (`MAX_BODY_BYTES`)."
            case .unsupportedMediaType: return "The request's `Content-Type` is neither `application/json` nor `application/x-protobuf`."
            case .internalError: return "Internal error: the body carries the request id only; the detail is in the server log."
            case .other:
                return "Any other error, e.g. 408 (body not received within `HTTP_READ_TIMEOUT`), 409 (conflict with the stored state), 429 (too many failed authentications from the caller's address; `Retry-After` says when to try again), 503 (store unavailable)."
            }
        }

        /// The response object, with the error message's schema when the contract has one.
        func response(schema: JSONNode?) -> JSONNode {
            let response: JSONNode = [
                "description": .string(description),
                "headers": ["X-Request-ID": ["$ref": "#/components/headers/X-Request-ID"]],
            ]
            return schema.map { response.adding("content", ["application/json": ["schema": $0]]) } ?? response
        }
    }

    private static let requestIDHeader: JSONNode = [
        "description": "The request id: the client's `X-Request-ID` when it is 1–128 visible ASCII characters, else a generated UUID.",
        "required": true,
        "schema": ["type": "string"],
    ]

    /// The security scheme of each caller that needs credentials, and its name under
    /// `components/securitySchemes`.
    private static let securitySchemes: [(caller: String, name: String, scheme: JSONNode)] = [
        ("admin", "AdminKey", ["type": "apiKey", "in": "header", "name": "X-Admin-Key",
                               "description": "The operator's admin key (`ADMIN_KEY`), compared in constant time."]),
        ("tenant", "TenantAPIKey", ["type": "apiKey", "in": "header", "name": "X-API-Key",
                                    "description": "A tenant API key (`nk_…`) issued by `AdminService.CreateAPIKey`; it grants access to its tenant only."]),
        ("agent", "AgentCertificate", ["type": "mutualTLS",
                                       "description": """
                                           The TLS client certificate issued to an enrolled agent by the control plane's CA (CN = agent id, \
                                           serial = the agent's current one). `RenewCertificate` also accepts the agent's expired certificate \
                                           together with its refresh token.
                                           """]),
    ]

    // MARK: - Schemas

    private mutating func reference(to swiftName: String) -> JSONNode {
        if swiftName == SwiftNaming.timestampTypeName {
            return Self.timestampSchema
        }
        let fullName = messages[swiftName]?.fullName ?? enums[swiftName]?.fullName ?? swiftName
        if referencedSet.insert(swiftName).inserted {
            referenced.append(swiftName)
        }
        return ["$ref": .string("#/components/schemas/\(fullName)")]
    }

    private static let timestampSchema: JSONNode = [
        "type": "string", "format": "date-time",
        "description": "RFC 3339 timestamp in UTC (`google.protobuf.Timestamp`), e.g. `2024-05-01T12:00:00Z`.",
    ]

    private mutating func schema(of message: MessageModel) throws(CodeGenError) -> JSONNode {
        var properties: [(key: String, value: JSONNode)] = []
        for field in message.fields {
            properties.append((field.name, try schema(of: field)))
        }
        var schema = (["type": "object"] as JSONNode).described(Self.text(message.documentation))
        if !properties.isEmpty {
            schema = schema.adding("properties", .object(properties))
        }
        var constraints: [JSONNode] = []
        for (index, oneof) in message.oneofs.enumerated() {
            let members = message.fields.filter { $0.oneofIndex == index }.map { JSONNode.string($0.name) }
            // Exactly one branch holds when at most one member is present.
            let each = members.map { member -> JSONNode in ["required": [member]] }
            constraints.append([
                "description": .string("At most one member of the oneof `\(oneof.name)`."),
                "oneOf": .array(each + [["not": ["anyOf": .array(each)]]]),
            ])
        }
        if !constraints.isEmpty {
            schema = schema.adding("allOf", .array(constraints))
        }
        return schema
    }

    private mutating func schema(of field: FieldModel) throws(CodeGenError) -> JSONNode {
        let element = try valueSchema(field.type)
        var schema: JSONNode
        switch field.cardinality {
        case .implicit, .explicit:
            schema = element
        case .repeated:
            schema = ["type": "array", "items": element]
        case .map(let key):
            schema = ["type": "object", "additionalProperties": element]
            if case .scalar(let keyType) = key, let names = Self.mapKeyNames(keyType) {
                schema = schema.adding("propertyNames", names)
            }
        }
        return schema.described(Self.text(field.documentation))
    }

    private mutating func valueSchema(_ type: FieldTypeModel) throws(CodeGenError) -> JSONNode {
        switch type {
        case .scalar(let name):
            return Self.scalarSchema(name)
        case .enumeration(let swiftName), .message(let swiftName):
            guard swiftName == SwiftNaming.timestampTypeName || messages[swiftName] != nil || enums[swiftName] != nil else {
                throw CodeGenError("type \(swiftName) is referenced but not declared in the files given to the OpenAPI renderer")
            }
            return reference(to: swiftName)
        }
    }

    /// The proto3 JSON form of a scalar.
    private static func scalarSchema(_ name: String) -> JSONNode {
        switch name {
        case "int32", "sint32", "sfixed32":
            return ["type": "integer", "format": "int32", "minimum": .integer(Int(Int32.min)), "maximum": .integer(Int(Int32.max))]
        case "uint32", "fixed32":
            return ["type": "integer", "format": "int64", "minimum": 0, "maximum": .integer(Int(UInt32.max))]
        case "int64", "sint64", "sfixed64":
            return ["type": "string", "format": "int64", "pattern": "^-?[0-9]{1,19}$"]
        case "uint64", "fixed64":
            return ["type": "string", "pattern": "^[0-9]{1,20}$"]
        case "float", "double":
            return ["oneOf": [["type": "number", "format": .string(name)], ["type": "string", "enum": ["NaN", "Infinity", "-Infinity"]]]]
        case "bool":
            return ["type": "boolean"]
        case "bytes":
            return ["type": "string", "contentEncoding": "base64"]
        default:
            return ["type": "string"]
        }
    }

    /// Map keys are JSON object keys: the key type's decimal or `true`/`false` spelling.
    private static func mapKeyNames(_ keyType: String) -> JSONNode? {
        switch keyType {
        case "string": return nil
        case "bool": return ["enum": ["true", "false"]]
        case "uint32", "fixed32", "uint64", "fixed64": return ["pattern": "^[0-9]+$"]
        default: return ["pattern": "^-?[0-9]+$"]
        }
    }

    private static func schema(of enumModel: EnumModel) -> JSONNode {
        var description = text(enumModel.documentation)
        let documented = enumModel.values.filter { !$0.documentation.isEmpty }
        if !documented.isEmpty {
            description += (description.isEmpty ? "" : "\n\n")
                + documented.map { "- `\($0.name)`: \(text($0.documentation).split(separator: "\n").joined(separator: " "))" }.joined(separator: "\n")
        }
        let schema: JSONNode = ["type": "string", "enum": .array(enumModel.values.map { .string($0.name) })]
        return schema.described(description)
    }

    // MARK: - Text

    /// A proto comment as Markdown: one leading space per line removed, blank lines at
    /// the ends dropped.
    private static func text(_ comment: String) -> String {
        var lines = comment.split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.hasPrefix(" ") ? String($0.dropFirst()) : String($0) }
        while let last = lines.last, last.allSatisfy(\.isWhitespace) { lines.removeLast() }
        while let first = lines.first, first.allSatisfy(\.isWhitespace) { lines.removeFirst() }
        return lines.joined(separator: "\n")
    }

    private static func package(of service: ServiceModel) -> String {
        guard let dot = service.fullName.lastIndex(of: ".") else { return "" }
        return String(service.fullName[..<dot])
    }
}
