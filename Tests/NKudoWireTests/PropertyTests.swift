import Foundation
import Testing
@testable import NKudoWire

/// Random messages with every field kind round-trip through binary and JSON, and
/// protoc (an independent implementation) reads our bytes as we meant them.
@Suite("Property tests")
struct PropertyTests {
    static let seeds: [UInt64] = Array(1...200)

    @Test("binary round trip is lossless", arguments: seeds)
    func binaryRoundTrip(seed: UInt64) throws {
        var random = RandomMessages(seed: seed)
        let message = random.message()
        let decoded = try KitchenSink(serializedBytes: message.serializedBytes())
        #expect(decoded.fields == message.fields, "seed \(seed)")
    }

    @Test("JSON round trip is lossless", arguments: seeds)
    func jsonRoundTrip(seed: UInt64) throws {
        var random = RandomMessages(seed: seed)
        let message = random.message()
        let json = try message.jsonBytes()
        let decoded = try KitchenSink(jsonBytes: json)
        #expect(decoded.fields == message.fields, "seed \(seed): \(String(decoding: json, as: UTF8.self))")
        #expect(try decoded.serializedBytes() == message.serializedBytes())
    }

    @Test("protoc decodes our bytes and re-encodes them byte for byte", arguments: Array(seeds.prefix(40)))
    func protocAgrees(seed: UInt64) async throws {
        var random = RandomMessages(seed: seed)
        let ours = try random.message().serializedBytes()
        let text = try await KitchenSinkProtoc.run(["--decode=nkudo.test.KitchenSink"], input: ours)
        let again = try await KitchenSinkProtoc.run(["--encode=nkudo.test.KitchenSink"], input: text)
        #expect(again == ours, "seed \(seed)")
        let decoded = try KitchenSink(serializedBytes: again)
        #expect(try decoded.serializedBytes() == ours)
    }
}

/// protoc on `Fixtures/kitchen_sink.proto`.
enum KitchenSinkProtoc {
    struct Failure: Error, CustomStringConvertible { let description: String }

    /// protoc, run and waited for on a thread of its own: blocking the two threads of
    /// Swift's cooperative pool starved the tests of other suites that time a wait. At most
    /// ``concurrentRuns`` at once, as many as the pool ran: with one thread per call,
    /// hundreds of `Process.run()` at once crashed Foundation's spawn (a bad read in
    /// `memcpy`, seen once in a clean-clone run).
    static func run(_ arguments: [String], input: [UInt8]) async throws -> [UInt8] {
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
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appending(path: "Fixtures")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["protoc", "--proto_path=\(directory.path)"] + arguments + ["kitchen_sink.proto"]
        let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
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
            throw Failure(description: String(decoding: errors, as: UTF8.self))
        }
        return Array(output)
    }
}
