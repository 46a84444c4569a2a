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
import Synchronization
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
            // A method we serve is labelled by its protocol: gRPC apart from Connect.
            let healthCheck = GRPCFraming.frame([])
            let viaGRPC = try await harness.send(client, .POST, "/grpc.health.v1.Health/Check", body: healthCheck,
                                                 headers: [("Content-Type", "application/grpc-web+proto")])
            #expect(viaGRPC.status == 200)
            let viaConnect = try await harness.send(client, .POST, "/grpc.health.v1.Health/Check", body: Array("{}".utf8),
                                                    headers: [("Content-Type", "application/json")])
            #expect(viaConnect.status == 200)
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
            #expect(text.contains("nkudo_http_requests_total{route=\"gRPC /grpc.health.v1.Health/Check\",status=\"200\"} 1"), "\(text)")
            #expect(text.contains("nkudo_http_requests_total{route=\"POST /grpc.health.v1.Health/Check\",status=\"200\"} 1"))
            #expect(text.contains("nkudo_agents"))
            #expect(text.contains("nkudo_plans"))
            #expect(text.contains("nkudo_store_connections"))
            #expect(text.contains("nkudo_store_heartbeat_queue_waiting 0"))
            #expect(text.contains("nkudo_store_heartbeat_queue_heartbeats_total{result=\"turned_away\"} 0"))
            #expect(text.contains("nkudo_heartbeats_total"))
        } catch {
            await harness.shutdown()
            throw error
        }
        await harness.shutdown()
    }

    @Test("the client certificate of an agent connection is kept while it is open and forgotten when it closes")
    func peerCertificatesFollowConnections() async throws {
        let token = "metrics-\(UUID().uuidString)"
        let harness = try await ControlPlaneHarness { $0.metricsToken = token }
        do {
            let observer = try harness.client()
            defer { _ = observer.shutdown() }
            func channelsOpen() async throws -> Int? {
                let metrics = try await harness.send(observer, .GET, "/metrics", headers: [("Authorization", "Bearer \(token)")])
                let line = String(decoding: metrics.body, as: UTF8.self).split(separator: "\n")
                    .first { $0.hasPrefix("nkudo_http_channels_open ") }
                return line.flatMap { Double($0.split(separator: " ").last ?? "") }.map { Int($0) }
            }
            let fleet = try await Fleet.create(harness, format: .binary)
            let agent = try await fleet.enrollAgent()
            for round in 1...3 {
                // The observer's connection and those the fleet's clients keep alive.
                let idle = try #require(try await channelsOpen())
                let http = try harness.client(certificatePEM: agent.response.clientCertificatePem, keyPEM: agent.keyPEM)
                let client = AgentServiceClient(transport: TestTransport(harness: harness, client: http, format: .binary))
                // Authenticated by the certificate recorded for this connection, request after request.
                _ = try await client.heartbeat(HeartbeatRequest(heartbeatSeq: Int64(2 * round - 1)))
                _ = try await client.heartbeat(HeartbeatRequest(heartbeatSeq: Int64(2 * round)))
                #expect(try await channelsOpen() == idle + 1)
                try await http.shutdown()
                var open = try await channelsOpen()
                for _ in 0..<50 where open != idle {
                    try await Task.sleep(for: .milliseconds(100))
                    open = try await channelsOpen()
                }
                #expect(open == idle, "round \(round): the closed connection's certificate is still recorded")
            }
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

    @Test("the request log's duration reads as printf's %.2f milliseconds")
    func requestLogDuration() {
        var generator = SystemRandomNumberGenerator()
        let edges: [Duration] = [.zero, .nanoseconds(4_999), .nanoseconds(5_001), .microseconds(1_234), .milliseconds(999),
                                 .nanoseconds(999_995_001), .seconds(86_400), .nanoseconds(1_999_999_999)]
        let random = (0..<2_000).map { _ in Duration.nanoseconds(Int64.random(in: 0...120_000_000_000, using: &generator)) }
        for duration in edges + random {
            let milliseconds = Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
            // Away from a tie at the third decimal, where binary doubles and exact integers may round apart.
            let third = (milliseconds * 1000).truncatingRemainder(dividingBy: 10)
            guard abs(third - 5) > 0.01 else { continue }
            #expect(ControlPlaneResponder.milliseconds(duration) == String(format: "%.2f", milliseconds), "\(duration)")
        }
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

    @Test("a body read past its deadline is cancelled once; one that ended in time is not")
    func bodyReadDeadlines() async throws {
        let deadlines = BodyReadDeadlines(resolution: .milliseconds(20))
        let cancelled = Mutex<[String]>([])
        let ended = deadlines.register(deadline: .now() + .milliseconds(50)) { cancelled.withLock { $0.append("ended") } }
        deadlines.end(ended)
        _ = deadlines.register(deadline: .now() + .milliseconds(50)) { cancelled.withLock { $0.append("overdue") } }
        _ = deadlines.register(deadline: .now() + .seconds(3600)) { cancelled.withLock { $0.append("far") } }
        let started = ContinuousClock.now
        while cancelled.withLock({ $0.isEmpty }) && ContinuousClock.now - started < .seconds(20) {
            try await Task.sleep(for: .milliseconds(10))
        }
        try await Task.sleep(for: .milliseconds(200))  // more sweeps: nothing is cancelled twice
        #expect(cancelled.withLock { $0 } == ["overdue"])
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
