/// The generator: a protoc plugin request in, one Swift file per `.proto` file out.
public enum CodeGenerator {
    /// Generates the Swift files for the files protoc asks for.
    public static func generate(_ request: CodeGeneratorRequest) -> CodeGeneratorResponse {
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
        } catch {
            return CodeGeneratorResponse(error: error.description)
        }
        return CodeGeneratorResponse(files: generated)
    }
}
