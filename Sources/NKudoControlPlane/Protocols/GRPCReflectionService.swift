import NKudoContract

/// gRPC server reflection (`grpc.reflection.v1` and `v1alpha`, the same messages): lists
/// the services of the `FileDescriptorProto`s it is given (those protoc made of `proto/`
/// at build time, ``ContractDescriptors``, and the standard health service's,
/// ``GRPCHealthDescriptor``) and hands the files out, so tools such as grpcurl and
/// `buf curl` need nothing but the address.
struct GRPCReflectionService: Sendable {
    /// The full names of the reflection services, v1 first.
    static let serviceNames = ["grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"]
    /// The one method of both.
    static let methodName = "ServerReflectionInfo"

    /// Serialized files by name.
    private let files: [String: [UInt8]]
    /// Each file's imports.
    private let dependencies: [String: [String]]
    /// The file declaring each fully qualified symbol (messages, enums, services, methods, extensions).
    private let symbols: [String: String]
    /// Extensions by extended type: number → file.
    private let extensions: [String: [Int32: String]]
    /// The services listed: those of every file.
    let services: [String]

    /// Indexes serialized `FileDescriptorProto`s.
    init(descriptors: [[UInt8]]) {
        var files: [String: [UInt8]] = [:]
        var dependencies: [String: [String]] = [:]
        var symbols: [String: String] = [:]
        var extensions: [String: [Int32: String]] = [:]
        var services: [String] = []
        for bytes in descriptors {
            guard let file = try? FileSymbols(serializedBytes: bytes, limits: WireLimits(maxBytes: 64 << 20, maxDepth: 100)) else { continue }
            files[file.name] = bytes
            dependencies[file.name] = file.dependencies
            let prefix = file.package.isEmpty ? "" : file.package + "."
            func add(_ message: MessageSymbols, scope: String) {
                let name = scope + message.name
                symbols[name] = file.name
                message.nested.forEach { add($0, scope: name + ".") }
                message.enums.forEach { symbols[name + "." + $0.name] = file.name }
                message.extensions.forEach { addExtension($0, scope: name + ".") }
            }
            func addExtension(_ extensionField: ExtensionSymbol, scope: String) {
                symbols[scope + extensionField.name] = file.name
                let extendee = extensionField.extendee.hasPrefix(".") ? String(extensionField.extendee.dropFirst()) : extensionField.extendee
                extensions[extendee, default: [:]][extensionField.number] = file.name
            }
            file.messages.forEach { add($0, scope: prefix) }
            file.enums.forEach { symbols[prefix + $0.name] = file.name }
            file.extensions.forEach { addExtension($0, scope: prefix) }
            for service in file.services {
                let name = prefix + service.name
                symbols[name] = file.name
                service.methods.forEach { symbols[name + "." + $0.name] = file.name }
                services.append(name)
            }
        }
        self.files = files
        self.dependencies = dependencies
        self.symbols = symbols
        self.extensions = extensions
        self.services = services.sorted()
    }

    /// The answer to one request of the stream. `sent` holds the files the stream has
    /// carried so far: as grpc-go's reflection server does, a file's imports are sent once
    /// per stream (the client keeps them), the file asked for every time. So asking again
    /// and again does not return the whole import graph again and again.
    func answer(_ request: ServerReflectionRequest, sent: inout Set<String>) -> ServerReflectionResponse {
        var response = ServerReflectionResponse(answering: request, host: "")
        func notFound(_ what: String) {
            response.errorResponse = ReflectionErrorResponse(code: 5, message: "\(what.prefix(200)) not found")
        }
        if let name = request.fileByFilename {
            if let answer = fileWithDependencies(name, sent: &sent) { response.fileDescriptorResponse = answer } else { notFound("file \(name)") }
        } else if let symbol = request.fileContainingSymbol {
            let trimmed = symbol.hasPrefix(".") ? String(symbol.dropFirst()) : symbol
            if let file = symbols[trimmed], let answer = fileWithDependencies(file, sent: &sent) {
                response.fileDescriptorResponse = answer
            } else {
                notFound("symbol \(symbol)")
            }
        } else if let request = request.fileContainingExtension {
            if let file = extensions[request.containingType]?[request.extensionNumber], let answer = fileWithDependencies(file, sent: &sent) {
                response.fileDescriptorResponse = answer
            } else {
                notFound("extension \(request.extensionNumber) of \(request.containingType)")
            }
        } else if let type = request.allExtensionNumbersOfType {
            if let numbers = extensions[type] {
                response.allExtensionNumbersResponse = ExtensionNumberResponse(baseTypeName: type, numbers: numbers.keys.sorted())
            } else if symbols[type] != nil {
                response.allExtensionNumbersResponse = ExtensionNumberResponse(baseTypeName: type, numbers: [])
            } else {
                notFound("type \(type)")
            }
        } else if request.listServices != nil {
            response.listServicesResponse = ListServiceResponse(names: services)
        } else {
            response.errorResponse = ReflectionErrorResponse(code: 3, message: "the request names nothing to look up")
        }
        return response
    }

    /// The file, then those of its transitive imports the stream has not carried yet.
    private func fileWithDependencies(_ name: String, sent: inout Set<String>) -> FileDescriptorResponse? {
        guard files[name] != nil else { return nil }
        var order = [name]
        var seen: Set<String> = [name]
        sent.insert(name)
        var pending = (dependencies[name] ?? []).reversed() as [String]
        while let next = pending.popLast() {
            guard !seen.contains(next), files[next] != nil else { continue }
            seen.insert(next)
            if sent.insert(next).inserted { order.append(next) }
            pending.append(contentsOf: (dependencies[next] ?? []).reversed())
        }
        return FileDescriptorResponse(files: order.compactMap { files[$0] })
    }
}
