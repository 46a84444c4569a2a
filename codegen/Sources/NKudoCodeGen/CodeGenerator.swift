/// The generator: a protoc plugin request in; out one Swift file per `.proto` file, the
/// contract registry, and the contract's OpenAPI document as a Swift string.
public enum CodeGenerator {
    /// Generates the Swift files for the files protoc asks for; `descriptors` are the
    /// request's serialized `proto_file`s (``RawCodeGeneratorRequest``), embedded for reflection.
    public static func generate(_ request: CodeGeneratorRequest, descriptors: [[UInt8]] = []) -> CodeGeneratorResponse {
        let builder = ModelBuilder(files: request.protoFiles)
        let filesByName = Dictionary(request.protoFiles.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var generated: [GeneratedFile] = []
        var models: [ContractFile] = []
        do throws(CodeGenError) {
            for name in request.filesToGenerate {
                guard let file = filesByName[name] else {
                    throw CodeGenError("protoc did not send \(name)")
                }
                let model = try builder.build(file)
                models.append(model)
                generated.append(GeneratedFile(name: SwiftNaming.outputFileName(forProto: name), content: SwiftRenderer.render(model)))
            }
            generated.append(GeneratedFile(name: SwiftNaming.registryFileName, content: SwiftRenderer.renderRegistry(models)))
            // The OpenAPI schemas need the types of imported contract files too (not the
            // well-known types: Timestamp is built in, the option descriptors are not on the wire).
            let generatedNames = Set(request.filesToGenerate)
            var dependencies: [ContractFile] = []
            for file in request.protoFiles where !generatedNames.contains(file.name) && !file.name.hasPrefix("google/protobuf/") {
                dependencies.append(try builder.build(file))
            }
            let openAPI = try OpenAPIRenderer.render(models, dependencies: dependencies)
            generated.append(GeneratedFile(name: SwiftNaming.openAPIFileName, content: SwiftRenderer.renderOpenAPI(openAPI, from: models)))
            generated.append(GeneratedFile(name: SwiftNaming.descriptorsFileName, content: SwiftRenderer.renderDescriptors(descriptors, from: models)))
        } catch {
            return CodeGeneratorResponse(error: error.description)
        }
        return CodeGeneratorResponse(files: generated)
    }
}
