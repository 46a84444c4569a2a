import Foundation
import PackagePlugin

/// Generates the contract's Swift code from `proto/` on every build.
///
/// It only assembles one command: `protoc` (Debian's protobuf-compiler, found on the
/// PATH or through `PROTOC_PATH`) parses every `.proto` under `proto/` and hands the
/// descriptors to our `protoc-gen-nkudo` plugin, which writes one `.pb.swift` per file,
/// the contract registry and the OpenAPI document into the plugin work directory.
@main
struct NKudoContractPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) async throws -> [Command] {
        let protoRoot = context.package.directoryURL.appending(path: "proto")
        let protoFiles = try protoFiles(under: protoRoot)
        guard !protoFiles.isEmpty else {
            throw PluginError("no .proto files under \(protoRoot.path)")
        }
        let generator = try context.tool(named: "protoc-gen-nkudo").url
        let outputDirectory = context.pluginWorkDirectoryURL.appending(path: "GeneratedSources")
        let outputs = protoFiles.map { outputDirectory.appending(path: Self.outputName(forProto: $0.relativePath)) }
            + [outputDirectory.appending(path: Self.registryFileName), outputDirectory.appending(path: Self.openAPIFileName),
               outputDirectory.appending(path: Self.descriptorsFileName)]
        var arguments = [
            "--plugin=protoc-gen-nkudo=\(generator.path)",
            "--nkudo_out=\(outputDirectory.path)",
            "--proto_path=\(protoRoot.path)",
        ]
        arguments += protoFiles.map(\.relativePath)
        return [
            .buildCommand(
                displayName: "Generating Swift from \(protoFiles.count) contract files",
                executable: try protoc(context),
                arguments: arguments,
                inputFiles: protoFiles.map(\.url) + [generator],
                outputFiles: outputs
            ),
        ]
    }

    /// The name the generator gives the Swift file of a `.proto` (keep in sync with
    /// `SwiftFileNaming` in NKudoCodeGen): `nkudo/v1/agent.proto` → `nkudo_v1_agent.pb.swift`.
    static func outputName(forProto path: String) -> String {
        let stem = path.hasSuffix(".proto") ? String(path.dropLast(".proto".count)) : path
        return stem.replacingOccurrences(of: "/", with: "_") + ".pb.swift"
    }

    /// The contract-wide registry file (keep in sync with `SwiftNaming.registryFileName`).
    static let registryFileName = "ContractRegistry.pb.swift"

    /// The contract's OpenAPI document as Swift (keep in sync with `SwiftNaming.openAPIFileName`).
    static let openAPIFileName = "ContractOpenAPI.pb.swift"

    /// The serialized descriptors for server reflection (keep in sync with `SwiftNaming.descriptorsFileName`).
    static let descriptorsFileName = "ContractDescriptors.pb.swift"

    private func protoFiles(under root: URL) throws -> [(url: URL, relativePath: String)] {
        guard let enumerator = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil) else {
            return []
        }
        let rootPath = root.standardizedFileURL.path
        var files: [(URL, String)] = []
        for case let url as URL in enumerator where url.pathExtension == "proto" {
            let path = url.standardizedFileURL.path
            files.append((url, String(path.dropFirst(rootPath.count + 1))))
        }
        return files.sorted { $0.1 < $1.1 }
    }

    private func protoc(_ context: PluginContext) throws -> URL {
        if let path = ProcessInfo.processInfo.environment["PROTOC_PATH"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        if let tool = try? context.tool(named: "protoc") {
            return tool.url
        }
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
            let candidate = URL(fileURLWithPath: String(directory)).appending(path: "protoc")
            if FileManager.default.isExecutableFile(atPath: candidate.path) {
                return candidate
            }
        }
        throw PluginError("protoc not found: install Debian's protobuf-compiler (scripts/setup) or set PROTOC_PATH")
    }
}

struct PluginError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
