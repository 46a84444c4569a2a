import AsyncHTTPClient
import Foundation
@testable import NKudoEdge
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Issue "Real microVMs", point 7: Cloud Hypervisor checked against its own API
/// description. Every exchange between the provider (and its API client) and the fake
/// VMM is captured at the fake (`NKUDO_FAKE_CH_CAPTURE`) and validated by
/// `scripts/check-ch-openapi` against the upstream OpenAPI document in `Fixtures/`:
/// the requests the provider sends and the answers the fake gives.
@Suite("Cloud Hypervisor API exchanges against Cloud Hypervisor's OpenAPI document", .serialized)
struct CloudHypervisorAPIConformanceTests {
    /// The package's root directory, from this file's path.
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    /// The validator, `scripts/check-ch-openapi`.
    static let validator = packageRoot.appendingPathComponent("scripts/check-ch-openapi").path
    /// Cloud Hypervisor's OpenAPI document, an unmodified upstream copy.
    static let document = packageRoot.appendingPathComponent("Tests/NKudoEdgeTests/Fixtures/cloud-hypervisor-openapi.yaml").path

    /// Runs `python3 scripts/check-ch-openapi --spec <document> captures…`: its exit status
    /// and its output (stdout and stderr).
    static func validate(_ captures: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", validator, "--spec", document] + captures
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// The `METHOD path` of every captured request.
    static func operations(in capture: String) throws -> Set<String> {
        let text = try String(contentsOfFile: capture, encoding: .utf8)
        return Set(text.split(separator: "\n").compactMap { line -> String? in
            let exchange = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            guard let request = exchange?["request"] as? [String: Any],
                  let method = request["method"] as? String, let path = request["path"] as? String else {
                return nil
            }
            return "\(method) \(path)"
        })
    }

    /// The exit status of child process `pid` once it exits (nil after `seconds`). Reaps it.
    static func exitStatus(of pid: Int32, seconds: Double = 5) async throws -> Int32? {
        let deadline = ContinuousClock.now + .seconds(seconds)
        var status: Int32 = 0
        while ContinuousClock.now < deadline {
            if waitpid(pid, &status, WNOHANG) == pid {
                // WIFEXITED / WEXITSTATUS: the C macros are not imported.
                return status & 0x7f == 0 ? (status >> 8) & 0xff : -(status & 0x7f)
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        return nil
    }

    /// The API client of VM `id`'s VMM, as the provider builds it.
    static func client(of provider: CloudHypervisorProvider, _ id: VMID) throws -> CloudHypervisorAPIClient {
        let metadata = try #require(try VMMetadata.load(from: "\(provider.directory(of: id))/state.json"))
        return CloudHypervisorAPIClient(socketPath: metadata.apiSocketPath, httpClient: .shared, timeout: 5)
    }

    @Test("the provider's requests and the fake's answers are what the document allows")
    func providerExchanges() async throws {
        let sandbox = try CloudHypervisorSandbox()
        defer { sandbox.killAll() }
        let capture = "\(sandbox.root)/exchanges.jsonl"

        // create → start → state → stop → start → power button → state → start → delete.
        let provider = try sandbox.provider(environment: ["NKUDO_FAKE_CH_CAPTURE": capture])
        let id = try VMID("vm-conformance")
        _ = try await provider.create(MicroVMSpec(id: id, name: "api", vcpu: 2, memoryMiB: 256))
        #expect(try await provider.start(id).status == .running)
        #expect(try await provider.state(of: id)?.status == .running)
        #expect(try await provider.stop(id).status == .stopped)
        let restarted = try await provider.start(id)
        #expect(restarted.status == .running)
        let console = "\(provider.directory(of: id))/console.log"
        #expect(try String(contentsOfFile: console, encoding: .utf8).contains("Run /sbin/init"))

        // The power button: the guest powers off, then the VMM exits with status 0.
        try await Self.client(of: provider, id).powerButton()
        #expect(try await Self.exitStatus(of: restarted.pid) == 0)
        #expect(try String(contentsOfFile: console, encoding: .utf8).hasSuffix("reboot: Power down\n"))
        #expect(try await provider.state(of: id)?.status == .stopped)
        #expect(try await provider.start(id).status == .running)
        try await provider.delete(id)

        // A VM the VMM leaves Created (vm.boot), a guest that ignores the power button,
        // and refusals: the fake answers them with statuses the document declares.
        let stubborn = try sandbox.provider(environment: [
            "NKUDO_FAKE_CH_CAPTURE": capture, "FAKE_CH_NO_AUTOBOOT": "1", "NKUDO_FAKE_CH_IGNORE_POWER_BUTTON": "1",
        ])
        let other = try VMID("vm-conformance-stubborn")
        _ = try await stubborn.create(MicroVMSpec(id: other))
        let running = try await stubborn.start(other)
        let client = try Self.client(of: stubborn, other)
        try await client.powerButton()
        try await Task.sleep(for: .milliseconds(500))
        #expect(kill(running.pid, 0) == 0)
        #expect(try await client.info() == .running)
        await #expect(throws: ProviderError.self) { try await client.boot() }
        try await client.shutdownVM()
        await #expect(throws: ProviderError.self) { try await client.powerButton() }
        #expect(try await client.info() == .shutdown)
        #expect(try await stubborn.stop(other).status == .stopped)
        try await stubborn.delete(other)

        #expect(try Self.operations(in: capture).isSuperset(of: [
            "GET /api/v1/vmm.ping", "GET /api/v1/vm.info", "PUT /api/v1/vm.boot", "PUT /api/v1/vm.shutdown",
            "PUT /api/v1/vm.power-button", "PUT /api/v1/vmm.shutdown",
        ]))
        let result = try Self.validate([capture])
        #expect(result.status == 0, "scripts/check-ch-openapi:\n\(result.output)")
        #expect(result.output.contains("all valid"))
    }

    @Test("the validator rejects exchanges the document does not allow", arguments: [
        (#"{"request":{"method":"PUT","path":"/api/v1/vm.create","content_type":"application/json","body":{"cpus":"two"}},"response":{"status":204,"content_type":null,"body":null}}"#,
         "cpus: 'two' is not of type 'object'"),
        (#"{"request":{"method":"PUT","path":"/api/v1/vm.create","content_type":null,"body":null},"response":{"status":204,"content_type":null,"body":null}}"#,
         "the operation requires a body"),
        (#"{"request":{"method":"PUT","path":"/api/v1/vm.boot","content_type":"application/json","body":null},"response":{"status":204,"content_type":null,"body":null}}"#,
         "Content-Type application/json without a body"),
        (#"{"request":{"method":"GET","path":"/api/v1/vm.info","content_type":null,"body":null},"response":{"status":500,"content_type":"text/plain","body":null,"body_text":"Error"}}"#,
         "status 500 is not declared"),
        (#"{"request":{"method":"GET","path":"/api/v1/vm.info","content_type":null,"body":null},"response":{"status":200,"content_type":"application/json","body":{"state":"Running"}}}"#,
         "'config' is a required property"),
        (#"{"request":{"method":"PUT","path":"/api/v1/vm.shutdown","content_type":null,"body":null},"response":{"status":405,"content_type":"text/plain","body":null,"body_text":"Invalid state"}}"#,
         "a body the document does not declare"),
        (#"{"request":{"method":"GET","path":"/api/v1/vm.boot","content_type":null,"body":null},"response":{"status":204,"content_type":null,"body":null}}"#,
         "no such operation"),
    ])
    func validatorRejects(_ exchange: String, _ failure: String) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nkch-openapi-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let capture = "\(directory)/bad.jsonl"
        try (exchange + "\n").write(toFile: capture, atomically: true, encoding: .utf8)
        let result = try Self.validate([capture])
        #expect(result.status == 1, "\(result.output)")
        #expect(result.output.contains(failure), "\(result.output)")
    }
}
