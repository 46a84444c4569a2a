import Foundation
import ProtocTestSupport
import NKudoContract

/// One golden fixture of the contract: the text-format source, protoc's binary
/// encoding of it and the canonical JSON written by the Python protobuf package.
struct Fixture: CustomStringConvertible, Sendable {
    let messageName: String

    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appending(path: "Fixtures")
    static let protoRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().appending(path: "proto")

    /// Every fixture listed in `Fixtures/index.txt`.
    static let all: [Fixture] = {
        let index = (try? String(contentsOf: directory.appending(path: "index.txt"), encoding: .utf8)) ?? ""
        return index.split(separator: "\n").map { Fixture(messageName: String($0)) }
    }()

    var description: String { messageName }

    var messageType: (any ProtoMessage.Type)? { ContractRegistry.messageTypes[messageName] }

    func url(_ suffix: String) -> URL { Self.directory.appending(path: "\(messageName).\(suffix)") }

    var textFormat: String { get throws { try String(contentsOf: url("txtpb"), encoding: .utf8) } }
    var binary: [UInt8] { get throws { Array(try Data(contentsOf: url("binpb"))) } }
    var json: [UInt8] { get throws { Array(try Data(contentsOf: url("json"))) } }
}

/// Runs Debian's `protoc` (the oracle the fixtures were made with) on the contract.
enum Protoc {
    static var protoFiles: [String] {
        let enumerator = FileManager.default.enumerator(at: Fixture.protoRoot, includingPropertiesForKeys: nil)
        var files: [String] = []
        while let url = enumerator?.nextObject() as? URL {
            if url.pathExtension == "proto" {
                files.append(String(url.standardizedFileURL.path.dropFirst(Fixture.protoRoot.standardizedFileURL.path.count + 1)))
            }
        }
        return files.sorted()
    }

    /// `protoc --encode=<message>` of text format.
    static func encode(_ text: String, as message: String) async throws -> [UInt8] {
        try await run(["--encode=\(message)"], input: Array(text.utf8))
    }

    /// `protoc --decode=<message>` of binary protobuf, as text format.
    static func decode(_ bytes: [UInt8], as message: String) async throws -> String {
        String(decoding: try await run(["--decode=\(message)"], input: bytes), as: UTF8.self)
    }

    private static func run(_ arguments: [String], input: [UInt8]) async throws -> [UInt8] {
        try await ProtocProcess.run(protoPath: Fixture.protoRoot.path, arguments: arguments, files: protoFiles, input: input)
    }
}
