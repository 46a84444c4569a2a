import Foundation
import Hummingbird
import NIOCore
import Logging
import NIOHTTP1
import NKudoContract
@testable import NKudoControlPlane
import NKudoStore
import Testing

/// Health, readiness, metrics and the schema gate of `serve`.
@Suite("Operations", .serialized)
struct OperationsTests {
    @Test("healthz, readyz and Prometheus metrics")
    func endpoints() async throws {
        let harness = try await ControlPlaneHarness()
        do {
            let client = try harness.client()
            let health = try await harness.send(client, .GET, "/healthz")
            #expect(health.status == 200)
            #expect(String(decoding: health.body, as: UTF8.self).contains("\"status\":\"ok\""))
            let ready = try await harness.send(client, .GET, "/readyz")
            #expect(ready.status == 200)
            let metrics = try await harness.send(client, .GET, "/metrics")
            let text = String(decoding: metrics.body, as: UTF8.self)
            #expect(metrics.status == 200)
            #expect(text.contains("nkudo_http_requests_total{route=\"GET /healthz\",status=\"200\"}"))
            #expect(text.contains("nkudo_agents"))
            #expect(text.contains("nkudo_plans"))
            #expect(text.contains("nkudo_store_connections"))
            #expect(text.contains("nkudo_heartbeats_total"))
        } catch {
            await harness.shutdown()
            throw error
        }
        await harness.shutdown()
    }

    @Test("a request body that does not arrive within HTTP_READ_TIMEOUT is a 408")
    func bodyReadTimeout() async throws {
        let (stream, continuation) = AsyncStream<ByteBuffer>.makeStream()
        defer { continuation.finish() }
        let started = ContinuousClock.now
        do {
            _ = try await ControlPlaneResponder.collect(RequestBody(asyncSequence: stream), limit: 1024, timeout: .milliseconds(200))
            Issue.record("the body should have timed out")
        } catch let error as APIError {
            #expect(error.status == .requestTimeout)
        }
        #expect(ContinuousClock.now - started < .seconds(20))
    }

    @Test("serve refuses a PostgreSQL schema that is behind and says to run migrate")
    func schemaBehind() async throws {
        guard let base = ProcessInfo.processInfo.environment["NKUDO_TEST_POSTGRES_URL"],
              ControlPlaneHarness.Backend.enabled.contains(.postgres) else { return }
        var configuration = ControlPlaneConfiguration()
        configuration.databaseURL = try await PostgresTestSchema.create(baseURL: base)
        let (store, _) = try ControlPlane.openStore(configuration, logger: Logger(label: "test"))
        await #expect(throws: StoreError.self) { try await store.checkSchema() }
        do {
            try await store.checkSchema()
        } catch {
            #expect(error.code == .schemaBehind)
        }
        _ = try await store.migrate()
        try await store.checkSchema()
        await store.close()
    }
}
