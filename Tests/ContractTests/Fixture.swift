import Foundation
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
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

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

    /// protoc, run and waited for on a thread of its own: hundreds of runs (~50 ms each)
    /// waited for on the two threads of Swift's cooperative pool held back every other
    /// test of the run meanwhile. At most ``concurrentRuns`` at once: hundreds of
    /// `Process.run()` at once crashed Foundation's spawn (NKudoWireTests' protoc runner,
    /// once in a clean-clone run).
    private static func run(_ arguments: [String], input: [UInt8]) async throws -> [UInt8] {
        try await withCheckedThrowingContinuation { continuation in
            Thread {
                runs.wait()
                defer { runs.signal() }
                continuation.resume(with: Result { try runBlocking(arguments, input: input) })
            }.start()
        }
    }

    private static let concurrentRuns = 2
    private static let runs = DispatchSemaphore(value: concurrentRuns)

    private static func runBlocking(_ arguments: [String], input: [UInt8]) throws -> [UInt8] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["protoc", "--proto_path=\(Fixture.protoRoot.path)"] + arguments + protoFiles
        let stdin = Pipe()
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        let writer = Thread {
            stdin.fileHandleForWriting.write(Data(input))
            try? stdin.fileHandleForWriting.close()
        }
        writer.start()
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        let errors = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Failure(description: "protoc \(arguments.joined(separator: " ")) failed: \(String(decoding: errors, as: UTF8.self))")
        }
        return Array(output)
    }
}
