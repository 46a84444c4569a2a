public import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
public import NIOHTTP1
import NIOSSL
import NKudoContract
public import NKudoControlPlane
public import NKudoStore
import Prometheus
import ServiceLifecycle

/// A real control plane on 127.0.0.1 (ephemeral port, TLS 1.3, its own data directory)
/// and HTTPS clients for it, with or without a client certificate.
public final class ControlPlaneHarness: @unchecked Sendable {
    // @unchecked: set once in `start` before any concurrent use, read-only afterwards.
    public private(set) var configuration: ControlPlaneConfiguration
    public private(set) var store: any Store
    public let pki: ControlPlanePKI
    public private(set) var port = 0
    /// The port of the metrics listener, when the configuration has one (`metricsHost`).
    public private(set) var metricsPort = 0
    private var task: Task<Void, any Error>?
    private var serviceGroup: ServiceGroup?
    private var clients: [HTTPClient] = []

    /// The stores the suites run against.
    public enum Backend: String, CaseIterable, CustomStringConvertible, Sendable {
        case sqlite, postgres
        public var description: String { rawValue }

        /// Backends to test: PostgreSQL needs NKUDO_TEST_POSTGRES_URL (scripts/start-postgres
        /// prints it); it is only skipped when NKUDO_SKIP_POSTGRES=1.
        public static var enabled: [Backend] {
            ProcessInfo.processInfo.environment["NKUDO_SKIP_POSTGRES"] == "1" ? [.sqlite] : allCases
        }
    }

    public init(backend: Backend = .sqlite, tweak: (inout ControlPlaneConfiguration) -> Void = { _ in }) async throws {
        var configuration = ControlPlaneConfiguration()
        configuration.dataDirectory = FileManager.default.temporaryDirectory.appending(path: "nkudo-cp-\(UUID().uuidString)").path
        configuration.listenHost = "127.0.0.1"
        configuration.listenPort = 0
        configuration.adminKey = "test-admin-key-\(UUID().uuidString)"
        configuration.serverCertificateNames = ["localhost", "127.0.0.1"]
        configuration.offlineSweepInterval = .zero
        configuration.logLevel = .warning
        // Suites run side by side: a test that wants the listener sets a host (port 0).
        configuration.metricsHost = nil
        configuration.metricsPort = 0
        if backend == .postgres {
            guard let url = ProcessInfo.processInfo.environment["NKUDO_TEST_POSTGRES_URL"] else {
                throw HarnessError("NKUDO_TEST_POSTGRES_URL is not set: run scripts/start-postgres (or set NKUDO_SKIP_POSTGRES=1)")
            }
            configuration.databaseURL = try await PostgresTestSchema.create(baseURL: url)
        }
        tweak(&configuration)
        self.configuration = configuration
        var logger = Logger(label: "test.control-plane")
        logger.logLevel = .warning
        let (store, _) = try ControlPlane.openStore(configuration, logger: logger)
        self.store = store
        _ = try await store.migrate()
        self.pki = try ControlPlanePKI.load(configuration: configuration, now: Date(), logger: logger)
        try await serve(logger: logger)
    }

    /// Runs `body` against a new control plane (on `backend`, configured by `tweak`); shuts
    /// the control plane down afterwards, also when `body` throws.
    public static func with(_ backend: Backend = .sqlite, _ tweak: (inout ControlPlaneConfiguration) -> Void = { _ in },
                            _ body: (ControlPlaneHarness) async throws -> Void) async throws {
        let harness = try await ControlPlaneHarness(backend: backend, tweak: tweak)
        do {
            try await body(harness)
        } catch {
            await harness.shutdown()
            throw error
        }
        await harness.shutdown()
    }

    /// Runs `body` against a new control plane (on `backend`, configured by `tweak`) with a
    /// fleet; shuts the control plane down afterwards, also when `body` throws.
    public static func withFleet(_ backend: Backend = .sqlite, _ tweak: (inout ControlPlaneConfiguration) -> Void = { _ in },
                                 _ body: (ControlPlaneHarness, Fleet) async throws -> Void) async throws {
        try await with(backend, tweak) { harness in
            try await body(harness, try await Fleet.create(harness))
        }
    }

    private func serve(logger: Logger) async throws {
        let (stream, continuation) = AsyncStream<Int>.makeStream()
        let (metricsStream, metricsContinuation) = AsyncStream<Int>.makeStream()
        if configuration.metricsHost == nil { metricsContinuation.finish() }
        let application = try ControlPlane.makeApplication(configuration: configuration, store: store, pki: pki,
                                                           registry: PrometheusCollectorRegistry(), logger: logger,
                                                           onServerRunning: { port in
            continuation.yield(port)
            continuation.finish()
        }, onMetricsListenerRunning: { port in
            metricsContinuation.yield(port)
            metricsContinuation.finish()
        })
        // In a service group, as `ControlPlane.serve` runs it, so that a test can shut it down
        // gracefully (``shutDownGracefully()``) as SIGTERM does.
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: [application], logger: logger))
        serviceGroup = group
        task = Task { try await group.run() }
        for await port in stream { self.port = port }
        for await port in metricsStream { metricsPort = port }
    }

    /// Stops serving and closes the store, keeping the data directory and the port, as
    /// a control plane that goes down.
    public func stopServing() async {
        task?.cancel()
        _ = try? await task?.value
        task = nil
        await store.close()
    }

    /// Shuts the server down gracefully, as SIGTERM does, waits for it to end and closes the
    /// store, keeping the data directory.
    public func shutDownGracefully() async {
        await serviceGroup?.triggerGracefulShutdown()
        _ = try? await task?.value
        task = nil
        await store.close()
    }

    /// Serves again on the same port and data directory after ``stopServing()``.
    public func resumeServing() async throws {
        var logger = Logger(label: "test.control-plane")
        logger.logLevel = .warning
        configuration.listenPort = port
        (store, _) = try ControlPlane.openStore(configuration, logger: logger)
        try await serve(logger: logger)
    }

    /// Stops the server and closes clients and store.
    public func shutdown() async {
        for client in clients { try? await client.shutdown() }
        if task != nil {
            task?.cancel()
            _ = try? await task?.value
            await store.close()
        }
        try? FileManager.default.removeItem(atPath: configuration.dataDirectory)
    }

    public var baseURL: String { "https://127.0.0.1:\(port)" }

    /// An HTTPS client trusting the control plane's CA, optionally presenting a client
    /// certificate. HTTP/1.1, as the agent speaks REST: the listener offers h2 too, and
    /// AsyncHTTPClient does not retry a request the server refused on a connection it was
    /// closing (GOAWAY after HTTP_IDLE_TIMEOUT), which a loaded machine hits. HTTP/2 is
    /// exercised by the gRPC tests and scripts/check-clients.
    public func client(certificatePEM: String? = nil, keyPEM: String? = nil) throws -> HTTPClient {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv13
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(pki.caCertificatePEM.utf8)))
        if let certificatePEM, let keyPEM {
            tls.certificateChain = try NIOSSLCertificate.fromPEMBytes(Array(certificatePEM.utf8)).map { .certificate($0) }
            tls.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: Array(keyPEM.utf8), format: .pem))
        }
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        configuration.httpVersion = .http1Only
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        clients.append(client)
        return client
    }

    /// A raw HTTP exchange.
    public func send(_ client: HTTPClient, _ method: HTTPMethod, _ path: String, body: [UInt8]? = nil,
                     headers: [(String, String)] = []) async throws -> (status: Int, headers: HTTPHeaders, body: [UInt8]) {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        let response = try await client.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 16 << 20)
        return (Int(response.status.code), response.headers, Array(bytes.readableBytesView))
    }
}

/// A test setup that went wrong, with the reason.
public struct HarnessError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
