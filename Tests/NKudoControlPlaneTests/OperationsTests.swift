import AsyncHTTPClient
import ControlPlaneTestSupport
import Foundation
import Hummingbird
import NIOCore
import Logging
import NIOHTTP1
import NKudoContract
@testable import NKudoControlPlane
import NKudoStore
import NKudoSQL
import Testing

/// Health, readiness, metrics and the schema gate of `serve`.
@Suite("Operations", .serialized)
struct OperationsTests {
    @Test("healthz, readyz and Prometheus metrics: on the loopback listener, on the API port only with the bearer token (issue 11)")
    func endpoints() async throws {
        let token = "metrics-token-\(UUID().uuidString)"
        let harness = try await ControlPlaneHarness {
            $0.metricsHost = "127.0.0.1"
            $0.metricsToken = token
        }
        do {
            let client = try harness.client()
            let health = try await harness.send(client, .GET, "/healthz")
            #expect(health.status == 200)
            #expect(String(decoding: health.body, as: UTF8.self).contains("\"status\":\"ok\""))
            let ready = try await harness.send(client, .GET, "/readyz")
            #expect(ready.status == 200)
            #expect(try await harness.send(client, .GET, "/metrics").status == 401)
            #expect(try await harness.send(client, .GET, "/metrics", headers: [("Authorization", "Bearer wrong")]).status == 401)
            // Paths a client makes up are no route label: each would be a series kept for good.
            for index in 0..<3 {
                let made = try await harness.send(client, .POST, "/made.Up/Method\(index)", body: [0, 0, 0, 0, 0],
                                                  headers: [("Content-Type", "application/grpc-web+proto")])
                let status = made.headers.first(name: "grpc-status") ?? String(decoding: made.body, as: UTF8.self)
                #expect(made.status == 200 && status.contains("12"))
            }
            let metrics = try await harness.send(client, .GET, "/metrics", headers: [("Authorization", "Bearer \(token)")])
            #expect(metrics.status == 200)
            let plain = HTTPClient(eventLoopGroupProvider: .singleton)
            defer { _ = plain.shutdown() }
            let listener = try await plain.execute(HTTPClientRequest(url: "http://127.0.0.1:\(harness.metricsPort)/metrics"), timeout: .seconds(10))
            #expect(listener.status == .ok)
            #expect(String(buffer: try await listener.body.collect(upTo: 1 << 20)).contains("nkudo_agents"))
            let text = String(decoding: metrics.body, as: UTF8.self)
            #expect(text.contains("nkudo_http_requests_total{route=\"GET /healthz\",status=\"200\"}"))
            #expect(text.contains("nkudo_http_requests_total{route=\"gRPC unmatched\",status=\"200\"} 3"))
            #expect(!text.contains("made.Up"))
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

    @Test("issue 11: without METRICS_TOKEN the API port does not serve /metrics")
    func metricsNotOnAPIPort() async throws {
        let harness = try await ControlPlaneHarness()
        do {
            #expect(try await harness.send(try harness.client(), .GET, "/metrics").status == 404)
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
