/// Why the contract cannot be generated.
public struct CodeGenError: Error, Sendable, Hashable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// Turns protoc's descriptors into the generator's model: resolves type references to
/// Swift names, recognises map entries and proto3 `optional`, collects comments and
/// reads the `nkudo.api` method options.
public struct ModelBuilder {
    /// Swift names of every message and enum of every file, by full proto name with a
    /// leading dot (as descriptors reference them).
    private var swiftNames: [String: String] = [".google.protobuf.Timestamp": SwiftNaming.timestampTypeName]
    private var mapEntries: [String: DescriptorProto] = [:]
    private var enumFullNames: Set<String> = []
    private var syntaxByMessage: [String: String] = [:]

    /// Prepares name resolution over all files of the request.
    public init(files: [FileDescriptorProto]) {
        for file in files {
            let prefix = file.package.isEmpty ? "" : "." + file.package
            for message in file.messageTypes {
                register(message, protoPrefix: prefix, swiftPrefix: "", syntax: file.syntax)
            }
            for enumType in file.enumTypes {
                let full = "\(prefix).\(enumType.name)"
                if swiftNames[full] == nil { swiftNames[full] = SwiftNaming.enumName(enumType.name) }
                enumFullNames.insert(full)
            }
        }
    }

    private mutating func register(_ message: DescriptorProto, protoPrefix: String, swiftPrefix: String, syntax: String) {
        let full = "\(protoPrefix).\(message.name)"
        if message.options?.mapEntry == true {
            mapEntries[full] = message
            return
        }
        let swift = swiftPrefix.isEmpty ? SwiftNaming.messageName(message.name) : "\(swiftPrefix).\(SwiftNaming.messageName(message.name))"
        if swiftNames[full] == nil { swiftNames[full] = swift }
        syntaxByMessage[full] = syntax
        for nested in message.nestedTypes {
            register(nested, protoPrefix: full, swiftPrefix: swift, syntax: syntax)
        }
        for enumType in message.enumTypes {
            swiftNames["\(full).\(enumType.name)"] = "\(swift).\(SwiftNaming.enumName(enumType.name))"
            enumFullNames.insert("\(full).\(enumType.name)")
        }
    }

    /// The model of one file.
    public func build(_ file: FileDescriptorProto) throws(CodeGenError) -> ContractFile {
        let comments = Comments(file.sourceCodeInfo)
        let prefix = file.package.isEmpty ? "" : "." + file.package
        var messages: [MessageModel] = []
        for (index, message) in file.messageTypes.enumerated() where message.options?.mapEntry != true {
            messages.append(try build(message, protoPrefix: prefix, path: [4, Int32(index)], comments: comments))
        }
        let enums = file.enumTypes.enumerated().map { index, enumType in
            build(enumType, protoPrefix: prefix, path: [5, Int32(index)], comments: comments)
        }
        var services: [ServiceModel] = []
        for (index, service) in file.services.enumerated() {
            services.append(try build(service, package: file.package, path: [6, Int32(index)], comments: comments))
        }
        return ContractFile(protoPath: file.name, package: file.package, messages: messages, enums: enums, services: services)
    }

    private func build(_ message: DescriptorProto, protoPrefix: String, path: [Int32], comments: Comments) throws(CodeGenError) -> MessageModel {
        let full = "\(protoPrefix).\(message.name)"
        let isProto2 = syntaxByMessage[full] != "proto3"
        // Real oneofs only: proto3 `optional` fields live in synthetic ones.
        var oneofRemap: [Int32: Int] = [:]
        var oneofs: [OneofModel] = []
        let syntheticOneofs = Set(message.fieldDescriptors.filter(\.proto3Optional).compactMap(\.oneofIndex))
        for (index, oneof) in message.oneofDecls.enumerated() where !syntheticOneofs.contains(Int32(index)) {
            oneofRemap[Int32(index)] = oneofs.count
            oneofs.append(OneofModel(
                name: oneof.name,
                swiftTypeName: SwiftNaming.upperCamel(oneof.name),
                swiftPropertyName: SwiftNaming.propertyName(oneof.name)))
        }
        var fields: [FieldModel] = []
        for (index, field) in message.fieldDescriptors.enumerated() {
            fields.append(try build(field, in: full, isProto2: isProto2, oneofRemap: oneofRemap,
                                    documentation: comments[path + [2, Int32(index)]]))
        }
        var nested: [MessageModel] = []
        for (index, child) in message.nestedTypes.enumerated() where child.options?.mapEntry != true {
            nested.append(try build(child, protoPrefix: full, path: path + [3, Int32(index)], comments: comments))
        }
        let enums = message.enumTypes.enumerated().map { index, enumType in
            build(enumType, protoPrefix: full, path: path + [4, Int32(index)], comments: comments)
        }
        let qualified = swiftNames[full] ?? message.name
        return MessageModel(
            fullName: String(full.dropFirst()),
            swiftName: String(qualified.split(separator: ".").last ?? Substring(qualified)),
            qualifiedSwiftName: qualified,
            documentation: comments[path],
            fields: fields, oneofs: oneofs, messages: nested, enums: enums)
    }

    private func build(_ field: FieldDescriptorProto, in message: String, isProto2: Bool, oneofRemap: [Int32: Int], documentation: String) throws(CodeGenError) -> FieldModel {
        var cardinality: FieldCardinality
        var type = try resolveType(field, in: message)
        if field.label == 3 {
            if case .message(let entryName) = type, let entry = mapEntries[field.typeName] {
                guard entry.fieldDescriptors.count == 2 else { throw CodeGenError("\(message).\(field.name): malformed map entry \(entryName)") }
                let key = try resolveType(entry.fieldDescriptors[0], in: message)
                type = try resolveType(entry.fieldDescriptors[1], in: message)
                if case .message = type {
                    throw CodeGenError("\(message).\(field.name): maps with message values are not supported by the contract runtime")
                }
                cardinality = .map(key: key)
            } else {
                let packable: Bool
                switch type {
                case .scalar(let name): packable = name != "string" && name != "bytes"
                case .enumeration: packable = true
                case .message: packable = false
                }
                let packed = packable && (field.options?.packed ?? !isProto2)
                cardinality = .repeated(packed: packed)
            }
        } else if field.proto3Optional || isProto2 || field.oneofIndex != nil {
            cardinality = .explicit
        } else {
            cardinality = .implicit
        }
        if field.label == 2 {
            throw CodeGenError("\(message).\(field.name): required fields are not supported")
        }
        var swiftName = SwiftNaming.propertyName(field.name)
        if SwiftNaming.reservedPropertyNames.contains(swiftName) { swiftName += "_" }
        return FieldModel(
            name: field.name,
            jsonName: field.jsonName.isEmpty ? SwiftNaming.lowerCamel(field.name) : field.jsonName,
            number: field.number,
            swiftName: swiftName,
            documentation: documentation,
            type: type,
            cardinality: cardinality,
            oneofIndex: field.proto3Optional ? nil : field.oneofIndex.flatMap { oneofRemap[$0] })
    }

    private func resolveType(_ field: FieldDescriptorProto, in message: String) throws(CodeGenError) -> FieldTypeModel {
        switch field.type {
        case 1: return .scalar("double")
        case 2: return .scalar("float")
        case 3: return .scalar("int64")
        case 4: return .scalar("uint64")
        case 5: return .scalar("int32")
        case 6: return .scalar("fixed64")
        case 7: return .scalar("fixed32")
        case 8: return .scalar("bool")
        case 9: return .scalar("string")
        case 12: return .scalar("bytes")
        case 13: return .scalar("uint32")
        case 15: return .scalar("sfixed32")
        case 16: return .scalar("sfixed64")
        case 17: return .scalar("sint32")
        case 18: return .scalar("sint64")
        case 11, 14:
            if mapEntries[field.typeName] != nil { return .message(field.typeName) }
            guard let swift = swiftNames[field.typeName] else {
                throw CodeGenError("\(message).\(field.name): type \(field.typeName) is not supported (only google.protobuf.Timestamp of the well-known types)")
            }
            return field.type == 14 ? .enumeration(swift) : .message(swift)
        default:
            throw CodeGenError("\(message).\(field.name): groups are not supported")
        }
    }

    private func build(_ enumType: EnumDescriptorProto, protoPrefix: String, path: [Int32], comments: Comments) -> EnumModel {
        let full = "\(protoPrefix).\(enumType.name)"
        let qualified = swiftNames[full] ?? enumType.name
        var used: Set<String> = []
        let values = enumType.values.enumerated().map { index, value in
            var swiftName = SwiftNaming.enumValueName(value.name, enumName: enumType.name)
            if ["rawValue", "protoEnumSchema", "protoName", "description"].contains(swiftName) || used.contains(swiftName) {
                swiftName = SwiftNaming.escape(SwiftNaming.lowerCamel(value.name.lowercased()))
            }
            used.insert(swiftName)
            return EnumValueModel(name: value.name, number: value.number, swiftName: swiftName,
                                  documentation: comments[path + [2, Int32(index)]])
        }
        return EnumModel(
            fullName: String(full.dropFirst()),
            swiftName: String(qualified.split(separator: ".").last ?? Substring(qualified)),
            qualifiedSwiftName: qualified,
            documentation: comments[path],
            values: values)
    }

    private func build(_ service: ServiceDescriptorProto, package: String, path: [Int32], comments: Comments) throws(CodeGenError) -> ServiceModel {
        let full = package.isEmpty ? service.name : "\(package).\(service.name)"
        var methods: [MethodModel] = []
        for (index, method) in service.methods.enumerated() {
            if method.isStreaming {
                throw CodeGenError("\(full).\(method.name): streaming RPCs are not supported (every route is unary)")
            }
            guard let input = swiftNames[method.inputType], let output = swiftNames[method.outputType] else {
                throw CodeGenError("\(full).\(method.name): unknown request or response type")
            }
            let options = method.options
            guard let http = options?.http, let primary = Self.binding(http) else {
                throw CodeGenError("\(full).\(method.name): every RPC needs an (nkudo.api.http) binding")
            }
            var bindings = [primary]
            for additional in http.additionalBindings {
                guard let binding = Self.binding(additional) else {
                    throw CodeGenError("\(full).\(method.name): additional binding without a method and path")
                }
                bindings.append(binding)
            }
            let callers = [1: "none", 2: "admin", 3: "tenant", 4: "agent", 5: "enrollmentToken"]
            let certificateChecks = [1: "serialInTransaction", 2: "expiredAllowed"]
            methods.append(MethodModel(
                name: method.name,
                swiftName: SwiftNaming.escape(method.name.prefix(1).lowercased() + method.name.dropFirst()),
                documentation: comments[path + [2, Int32(index)]],
                inputSwiftName: input,
                outputSwiftName: output,
                bindings: bindings,
                caller: callers[Int(options?.caller ?? 0)] ?? "none",
                agentCertificateCheck: certificateChecks[Int(options?.agentCertificateCheck ?? 0)] ?? "standard",
                ignoresUnknownJSONFields: options?.jsonUnknownFields == 2,
                idempotency: [1: "noSideEffects", 2: "idempotent"][Int(options?.idempotencyLevel ?? 0)] ?? "unknown"))
        }
        return ServiceModel(fullName: full, name: service.name, documentation: comments[path], methods: methods)
    }

    private static func binding(_ rule: HttpRuleDescriptor) -> BindingModel? {
        guard let pattern = rule.pattern else { return nil }
        let status = rule.successCode == 0 ? 200 : Int(rule.successCode)
        return BindingModel(method: pattern.method, path: pattern.path, body: rule.body, successStatus: status)
    }
}

/// Leading comments of a file's declarations, by source path.
struct Comments {
    private var byPath: [[Int32]: String] = [:]

    init(_ info: SourceCodeInfo?) {
        for location in info?.locations ?? [] {
            let text = location.leadingComments.isEmpty ? location.trailingComments : location.leadingComments
            if !text.isEmpty {
                byPath[location.path] = text
            }
        }
    }

    subscript(path: [Int32]) -> String {
        byPath[path] ?? ""
    }
}
