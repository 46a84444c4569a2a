import Foundation
import HTTPTypes
public import Hummingbird
import HummingbirdCore
import HummingbirdHTTP2
public import Logging
import NIOCore
import NIOSSL
import NKudoContract
import NKudoPKI
public import NKudoStore
import NKudoSQL
import NKudoStorePostgres
public import Prometheus
import ServiceLifecycle
import UnixSignals

/// Assembles the control plane from a configuration: the store, the PKI, the services
/// bound to the contract's route tables, TLS, the sweeper, metrics.
public enum ControlPlane {
    /// The content type of `/metrics`.
    static let metricsContentType = "text/plain; version=0.0.4"

    /// Opens the store the configuration names: PostgreSQL for `DATABASE_URL`, else
    /// SQLite in the data directory (created 0700, or narrowed to it: ``DataDirectory``).
    public static func openStore(_ configuration: ControlPlaneConfiguration, logger: Logger) throws -> (store: any Store, description: String) {
        if let url = configuration.databaseURL {
            let database = try PostgresDatabase(url: url, maxConnections: configuration.databaseMaxConnections, logger: logger)
            return (SQLStore(database: database, logger: logger), "PostgreSQL")
        }
        try DataDirectory.prepare(configuration.dataDirectory, logger: logger)
        let database = try SQLiteDatabase(path: configuration.sqlitePath, logger: logger)
        return (SQLStore(database: database, logger: logger), "SQLite \(configuration.sqlitePath)")
    }

    /// The service implementations of the contract, as the routes and the web console call them.
    struct Services {
        let environment: ServiceEnvironment
        let admin: AdminServiceImplementation
        let tenant: TenantServiceImplementation
        let agent: AgentServiceImplementation
    }

    /// Every service of the contract, bound to the store, the PKI and the configuration.
    static func services(configuration: ControlPlaneConfiguration, store: any Store, pki: ControlPlanePKI,
                         registry: PrometheusCollectorRegistry, now: @escaping @Sendable () -> Date) -> Services {
        let environment = ServiceEnvironment(store: store, now: now)
        let agent = AgentServiceImplementation(
            environment: environment, authority: pki.authority, caCertificatePEM: pki.caCertificatePEM, caFingerprint: pki.caFingerprint,
            agentCertificateTTL: configuration.agentCertificateTTL.timeInterval, renewalGrace: configuration.agentRenewalGrace.timeInterval,
            heartbeatIntervalSeconds: Int32(max(1, configuration.heartbeatInterval.components.seconds)),
            lease: LeaseOptions(limit: configuration.maxPendingPlans, ttl: configuration.planLeaseTTL.timeInterval),
            heartbeats: registry.makeCounter(descriptor: MetricNameDescriptor(namespace: "nkudo", subsystem: nil, metricName: "heartbeats",
                                                                              unitName: "total", helpText: "heartbeats accepted")),
            droppedLogLines: registry.makeCounter(descriptor: MetricNameDescriptor(
                namespace: "nkudo", subsystem: "agent", metricName: "log_lines_dropped", unitName: "total",
                helpText: "log lines agents dropped because their outbox was full")),
            unplacedLogLines: registry.makeCounter(descriptor: MetricNameDescriptor(
                namespace: "nkudo", subsystem: "log_lines", metricName: "unplaced", unitName: "total",
                helpText: "log lines of no execution or plan the agent may write to, dropped")))
        let tenant = TenantServiceImplementation(environment: environment, defaultEnrollmentTTL: configuration.defaultEnrollmentTTL.timeInterval,
                                                 caFingerprint: pki.caFingerprint)
        return Services(environment: environment, admin: AdminServiceImplementation(environment: environment), tenant: tenant, agent: agent)
    }

    /// The route table: every service of the contract bound to its implementation, and the
    /// standard gRPC health service.
    static func routes(_ services: Services, now: @escaping @Sendable () -> Date) -> [RPCRoute<CallContext>] {
        let names = [HealthService.name, AdminService.name, TenantService.name, AgentService.name, GRPCHealthService.serviceName]
        return HealthService.routes(for: HealthServiceImplementation(now: now))
            + AdminService.routes(for: services.admin)
            + TenantService.routes(for: services.tenant)
            + AgentService.routes(for: services.agent)
            + GRPCHealthService(store: services.environment.store, services: Set(names)).routes
    }

    /// The responder of the API port (the contract's routes, the web console at `/ui`,
    /// `/readyz`, `/openapi.json`, and `/metrics` with `METRICS_TOKEN`) and what it needs beside it: the guard of failed
    /// authentications, a service that must run, and the metrics in the exposition format.
    static func makeResponder(configuration: ControlPlaneConfiguration, store: any Store, pki: ControlPlanePKI,
                              registry: PrometheusCollectorRegistry, logger: Logger, now: @escaping @Sendable () -> Date = { Date() }) throws
        -> (responder: ControlPlaneResponder, authFailures: AuthFailureGuard, metrics: @Sendable () async -> [UInt8]) {
        let authFailures = AuthFailureGuard(limit: configuration.authFailureLimit, window: configuration.authFailureWindow, store: store,
                                            now: now, logger: logger)
        let authenticator = ControlPlaneAuthenticator(adminKey: pki.adminKey, store: store, authority: pki.authority.certificate, now: now)
        let statistics = StoreMetrics(store: store, registry: registry)
        let metrics: @Sendable () async -> [UInt8] = {
            await statistics.refresh()
            var buffer: [UInt8] = []
            registry.emit(into: &buffer)
            return buffer
        }
        let openAPIDocument = Array(ContractOpenAPI.json.utf8)
        var plainEndpoints: [String: ControlPlaneResponder.PlainEndpoint] = [
                "/readyz": { _ async -> (status: HTTPResponse.Status, contentType: String, body: [UInt8]) in
                    do {
                        try await store.ping()
                        try await store.checkSchema()
                        return (.ok, "application/json", Array(#"{"status":"ready"}"#.utf8))
                    } catch {
                        logger.warning("not ready", metadata: [ControlPlaneLogKey.error: .string(String(describing: error))])
                        return (.serviceUnavailable, "application/json", Array(#"{"status":"unavailable","error":"store not ready"}"#.utf8))
                    }
                },
                "/openapi.json": { _ async -> (status: HTTPResponse.Status, contentType: String, body: [UInt8]) in
                    (.ok, "application/json", openAPIDocument)
                },
            ]
        if let token = configuration.metricsToken {
            let expected = Array("Bearer \(token)".utf8)
            plainEndpoints["/metrics"] = { headers async -> (status: HTTPResponse.Status, contentType: String, body: [UInt8]) in
                guard Digest.constantTimeEquals(Array((headers[.authorization] ?? "").utf8), expected) else {
                    return (.unauthorized, "application/json", Array(#"{"error":"metrics need Authorization: Bearer <METRICS_TOKEN>","code":"unauthenticated"}"#.utf8))
                }
                return (.ok, metricsContentType, await metrics())
            }
        }
        let services = services(configuration: configuration, store: store, pki: pki, registry: registry, now: now)
        let console = try WebConsole(tenant: services.tenant, admin: services.admin, environment: services.environment,
                                     authenticator: authenticator, authFailures: authFailures, adminKey: pki.adminKey,
                                     secret: try pki.authority.key.pkcs8PEM(), readTimeout: configuration.httpReadTimeout)
        let responder = ControlPlaneResponder(
            routes: routes(services, now: now),
            authenticator: authenticator, authFailures: authFailures, maxBodyBytes: configuration.maxBodyBytes, readTimeout: configuration.httpReadTimeout,
            metrics: HTTPMetrics(registry: registry), peerCertificates: PeerCertificates(registry: registry), logger: logger,
            plainEndpoints: plainEndpoints, console: console)
        return (responder, authFailures, metrics)
    }

    /// The HTTP application (TLS 1.3 only; HTTP/2 and HTTP/1.1 by ALPN; client certificates
    /// requested, verified per route), with the services it needs beside it: the metrics listener (`METRICS_ADDR`)
    /// and the writer of aggregated authentication failures.
    public static func makeApplication(configuration: ControlPlaneConfiguration, store: any Store, pki: ControlPlanePKI,
                                       registry: PrometheusCollectorRegistry, logger: Logger,
                                       onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in },
                                       onMetricsListenerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) throws -> some ApplicationProtocol {
        let (responder, authFailures, metrics) = try makeResponder(configuration: configuration, store: store, pki: pki, registry: registry,
                                                               logger: logger)
        // Before the server: shut down after it.
        let http1Connections = HTTP1Connections()
        var services: [any Service] = [http1Connections, authFailures]
        if let metricsHost = configuration.metricsHost {
            services.append(MetricsListener(host: metricsHost, port: configuration.metricsPort, metrics: metrics,
                                            onRunning: onMetricsListenerRunning, logger: logger))
        }
        // The chain ends with the CA, so an agent can pin the CA by fingerprint on first contact.
        var chain = try NIOSSLCertificate.fromPEMBytes(Array(pki.serverCertificatePEM.utf8))
        for authority in try NIOSSLCertificate.fromPEMBytes(Array(pki.caCertificatePEM.utf8)) where !chain.contains(authority) {
            chain.append(authority)
        }
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(pki.serverKeyPEM.utf8), format: .pem)))
        tls.minimumTLSVersion = .tlsv13
        tls.certificateVerification = .optionalVerification
        // How long a closing connection waits for the peer's close_notify. HTTP clients
        // (AsyncHTTPClient among them) often never send it, and NIO's 5 s default then
        // holds up every graceful shutdown with an agent connected.
        tls.shutdownTimeout = .seconds(1)
        let writeTimeout = TimeAmount.nanoseconds(Int64(configuration.httpWriteTimeout.timeInterval * 1_000_000_000))
        let idleTimeout = TimeAmount.seconds(configuration.httpIdleTimeout.components.seconds)
        let streams = HTTP1Channel.Configuration(additionalChannelHandlers: [ResponseWriteTimeoutHandler(timeout: writeTimeout),
                                                                                     ClientInputObserver(), responder.peerCertificates.recorder()],
                                                 idleTimeout: idleTimeout)
        // One port for every protocol: ALPN offers h2 (gRPC, and REST/Connect for clients
        // that prefer it) and http/1.1; each HTTP/2 stream gets the same handlers as an
        // HTTP/1.1 connection.
        let http2 = HTTP2UpgradeChannel.Configuration(idleTimeout: configuration.httpIdleTimeout, streamConfiguration: streams)
        return Application(
            responder: responder,
            server: HTTPServerBuilder { [tls] responder in
                try ControlPlaneServerChannel(tls: tls, configuration: http2, http1Connections: http1Connections, responder: responder)
            },
            configuration: ApplicationConfiguration(address: .hostname(configuration.listenHost, port: configuration.listenPort),
                                                    serverName: "n-kudo"),
            services: services,
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? configuration.listenPort) },
            logger: logger)
    }

    /// Runs the control plane until SIGTERM/SIGINT: migrates SQLite (PostgreSQL must be
    /// current: `nkudo-control-plane migrate`), loads or generates the PKI, serves HTTPS,
    /// sweeps offline agents; on shutdown drains requests, stops the sweeper, closes the store.
    public static func serve(configuration: ControlPlaneConfiguration, logger: Logger,
                             announce: @escaping @Sendable (String) -> Void) async throws {
        let (store, storeDescription) = try openStore(configuration, logger: logger)
        do {
            if configuration.databaseURL == nil {
                let applied = try await store.migrate()
                if !applied.isEmpty { logger.notice("migrated SQLite store", metadata: [ControlPlaneLogKey.applied: .string(applied.joined(separator: ","))]) }
            } else {
                try await store.checkSchema()
            }
            let pki = try ControlPlanePKI.load(configuration: configuration, now: Date(), logger: logger)
            let registry = PrometheusCollectorRegistry()
            let host = configuration.listenHost == "0.0.0.0" ? "localhost" : configuration.listenHost
            let application = try makeApplication(configuration: configuration, store: store, pki: pki, registry: registry, logger: logger,
                                                  onServerRunning: { port in
                announce("n-kudo control plane listening on https://\(host):\(port) (store: \(storeDescription))")
                announce("CA fingerprint (pin with nkudo-edge enroll --ca-fingerprint): sha256:\(pki.caFingerprint)")
                if let path = pki.adminKeyPath {
                    announce("admin key (X-Admin-Key) is in \(path)")
                }
            }, onMetricsListenerRunning: { port in
                announce("metrics on http://\(configuration.metricsHost ?? "127.0.0.1"):\(port)/metrics")
            })
            var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: application)]
            if configuration.offlineSweepInterval > .zero {
                services.append(.init(service: OfflineSweeper(store: store, interval: configuration.offlineSweepInterval,
                                                              offlineAfter: configuration.heartbeatOfflineAfter,
                                                              auditRetention: configuration.auditRetention, logger: logger)))
            }
            var groupConfiguration = ServiceGroupConfiguration(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
            groupConfiguration.maximumGracefulShutdownDuration = configuration.httpShutdownTimeout
            try await ServiceGroup(configuration: groupConfiguration).run()
        } catch {
            await store.close()
            if let failure = error as? IOError, failure.errnoCode == EADDRINUSE {
                let metrics = configuration.metricsHost.map { " or METRICS_ADDR \($0):\(configuration.metricsPort)" } ?? ""
                throw ConfigurationError(setting: "CONTROL_PLANE_ADDR", reason: """
                    \(configuration.listenHost):\(configuration.listenPort)\(metrics) is in use by another program (another control plane?)
                    """)
            }
            throw error
        }
        await store.close()
    }
}
