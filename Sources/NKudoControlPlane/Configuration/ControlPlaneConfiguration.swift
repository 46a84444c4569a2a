import Foundation
public import Logging

/// Every setting of the control plane, with the original's names and defaults
/// (environment variable / `serve` flag), plus the settings the rewrite added.
public struct ControlPlaneConfiguration: Sendable {
    /// `CONTROL_PLANE_ADDR`: TLS listen address, `host:port` or `:port` (all interfaces). Default `:8443`.
    public var listenHost: String = "0.0.0.0"
    public var listenPort: Int = 8443
    /// `DATABASE_URL`: PostgreSQL URL; unset means SQLite in the data directory.
    public var databaseURL: String?
    /// `DATABASE_MAX_CONNECTIONS`: connection pool bound. Default 10.
    public var databaseMaxConnections: Int = 10
    /// `NKUDO_DATA_DIR`: SQLite database, generated PKI and admin key. Default `./nkudo-data`.
    public var dataDirectory: String = "./nkudo-data"
    /// `ADMIN_KEY`: the `X-Admin-Key` value; unset or blank → generated once and kept in the data dir.
    public var adminKey: String?
    /// `DEFAULT_ENROLLMENT_TTL`: token lifetime when the request gives none. Default 15 min.
    public var defaultEnrollmentTTL: Duration = .seconds(15 * 60)
    /// `AGENT_CERT_TTL`: lifetime of agent client certificates. Default 24 h.
    public var agentCertificateTTL: Duration = .seconds(24 * 3600)
    /// `AGENT_RENEWAL_GRACE`: how long the credentials a renewal replaced stay valid when the
    /// new ones are never used (a lost renewal response). Default 24 h.
    public var agentRenewalGrace: Duration = .seconds(24 * 3600)
    /// `HEARTBEAT_INTERVAL`: interval advertised to agents. Default 15 s.
    public var heartbeatInterval: Duration = .seconds(15)
    /// `PLAN_LEASE_TTL`: plan lease length. Default 45 s.
    public var planLeaseTTL: Duration = .seconds(45)
    /// `MAX_PENDING_PLANS`: plans leased per heartbeat or plans/next call. Default 2.
    public var maxPendingPlans: Int = 2
    /// `HEARTBEAT_OFFLINE_AFTER`: agents silent this long become OFFLINE. Default 60 s.
    public var heartbeatOfflineAfter: Duration = .seconds(60)
    /// `OFFLINE_SWEEP_INTERVAL`: sweeper tick; 0 disables it. Default 15 s.
    public var offlineSweepInterval: Duration = .seconds(15)
    /// `REQUIRE_PERSISTENT_PKI`: refuse to start without the four PKI files. Default false.
    public var requirePersistentPKI: Bool = false
    /// `HTTP_READ_TIMEOUT`: time to read a whole request. Default 10 s.
    public var httpReadTimeout: Duration = .seconds(10)
    /// `HTTP_WRITE_TIMEOUT`: how long a write of a response may wait for the client to
    /// read (timed from the last write that got through); a client that stops reading is
    /// disconnected. Default 15 s.
    public var httpWriteTimeout: Duration = .seconds(15)
    /// `HTTP_IDLE_TIMEOUT`: keep-alive idle timeout. Default 60 s.
    public var httpIdleTimeout: Duration = .seconds(60)
    /// `HTTP_SHUTDOWN_TIMEOUT`: graceful-shutdown deadline. Default 10 s.
    public var httpShutdownTimeout: Duration = .seconds(10)
    /// `MAX_BODY_BYTES`: largest request body. Default 1 MiB.
    public var maxBodyBytes: Int = 1 << 20
    /// `CA_COMMON_NAME`: CN of a generated CA. Default `n-kudo-mvp1-agent-ca`.
    public var caCommonName: String = "n-kudo-mvp1-agent-ca"
    /// `CA_CERT_FILE`, `CA_KEY_FILE`, `SERVER_CERT_FILE`, `SERVER_KEY_FILE`: PEM files to load.
    public var caCertFile: String?
    public var caKeyFile: String?
    public var serverCertFile: String?
    public var serverKeyFile: String?
    /// `SERVER_CERT_SANS`: names and addresses of a generated server certificate.
    /// Default: localhost, 127.0.0.1, ::1 and the host name.
    public var serverCertificateNames: [String] = ControlPlaneConfiguration.defaultServerNames()
    /// `LOG_LEVEL`: trace, debug, info, notice, warning, error, critical. Default info.
    public var logLevel: Logger.Level = .info
    /// `AUTH_FAILURE_LIMIT`: failed authentications a source may have per
    /// `AUTH_FAILURE_WINDOW` before it gets 429; 0 disables the limit. Default 30.
    public var authFailureLimit: Int = 30
    /// `AUTH_FAILURE_WINDOW`: the window of the failure budget and of the aggregation of
    /// failures into one audit event. Default 1 min.
    public var authFailureWindow: Duration = .seconds(60)
    /// `AUDIT_RETENTION`: audit events older than this are deleted. Default 90 days.
    public var auditRetention: Duration = .seconds(90 * 86_400)
    /// `METRICS_ADDR`: plain-HTTP listener of `/metrics`, `host:port`; nil (`off`) serves
    /// none. Default `127.0.0.1:9464` (loopback only).
    public var metricsHost: String? = "127.0.0.1"
    public var metricsPort: Int = 9464
    /// `METRICS_TOKEN`: when set, `/metrics` is also served on the API port to requests with
    /// `Authorization: Bearer <token>`; unset: not served there.
    public var metricsToken: String?

    /// The defaults.
    public init() {}

    /// The path of the SQLite database in the data directory.
    public var sqlitePath: String { (dataDirectory as NSString).appendingPathComponent("nkudo.sqlite") }

    static func defaultServerNames() -> [String] {
        var names = ["localhost", "127.0.0.1", "::1"]
        let host = ProcessInfo.processInfo.hostName
        if !host.isEmpty, !names.contains(host) { names.append(host) }
        return names
    }
}

/// A setting that could not be used, with the reason.
public struct ConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The environment variable (and flag) of the setting.
    public let setting: String
    /// Why the value is invalid.
    public let reason: String

    public init(setting: String, reason: String) {
        self.setting = setting
        self.reason = reason
    }

    public var description: String { "invalid \(setting): \(reason)" }
}
