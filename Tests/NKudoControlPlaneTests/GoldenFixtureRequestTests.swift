import ControlPlaneTestSupport
import Foundation
import NIOHTTP1
import NKudoContract
@testable import NKudoControlPlane
import NKudoStore
import Testing

/// The contract's golden fixtures (made by protoc and the Python protobuf package) sent
/// to the live control plane as they are, in binary and in JSON.
@Suite("Golden fixtures against the control plane", .serialized)
struct GoldenFixtureRequestTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appending(path: "ContractTests/Fixtures")

    @Test("the golden HeartbeatRequest is accepted as binary and as JSON", arguments: ["binpb", "json"])
    func goldenHeartbeat(suffix: String) async throws {
        let harness = try await ControlPlaneHarness()
        do {
            let fleet = try await Fleet.create(harness)
            let agent = try await fleet.enrollAgent()
            let golden = Array(try Data(contentsOf: Self.fixtures.appending(path: "nkudo.v1.HeartbeatRequest.\(suffix)")))
            var request = suffix == "json" ? try HeartbeatRequest(jsonBytes: golden) : try HeartbeatRequest(serializedBytes: golden)
            // The fixture names some other agent; everything else is sent as protoc/Python wrote it.
            request.agentId = ""
            let body = suffix == "json" ? try request.jsonBytes() : try request.serializedBytes()
            let client = try harness.client(certificatePEM: agent.response.clientCertificatePem, keyPEM: agent.keyPEM)
            let response = try await harness.send(client, .POST, "/v1/heartbeat", body: body,
                                                  headers: [("Content-Type", suffix == "json" ? "application/json" : "application/x-protobuf")])
            #expect(response.status == 200, "\(String(decoding: response.body, as: UTF8.self))")
            let host = try #require(try await fleet.tenantClient.listHosts(ListHostsRequest(siteId: fleet.site.id)).hosts.first)
            #expect(host.cpuCoresTotal == request.cpuCoresTotal)
            #expect(host.memoryBytesTotal == request.memoryBytesTotal)
        } catch {
            await harness.shutdown()
            throw error
        }
        await harness.shutdown()
    }
}
