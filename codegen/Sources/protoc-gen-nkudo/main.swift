import Foundation
import NKudoCodeGen
import NKudoWire

// protoc plugin: reads a CodeGeneratorRequest on stdin, writes a CodeGeneratorResponse
// on stdout. protoc writes the files and reports any error the response carries.
let input = Array(FileHandle.standardInput.readDataToEndOfFile())
do {
    let limits = WireLimits(maxBytes: 256 * 1024 * 1024, maxDepth: 100)
    let request = try CodeGeneratorRequest(serializedBytes: input, limits: limits)
    let descriptors = try RawCodeGeneratorRequest(serializedBytes: input, limits: limits).protoFiles
    let response = CodeGenerator.generate(request, descriptors: descriptors)
    FileHandle.standardOutput.write(Data(try response.serializedBytes()))
} catch {
    FileHandle.standardError.write(Data("protoc-gen-nkudo: \(error)\n".utf8))
    exit(1)
}
