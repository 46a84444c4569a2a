import Foundation
import Logging

/// One setting: its environment variable, its `serve` flag, its help text, and how a
/// value is applied. The table is the single list of settings (README and `--help` show it).
public struct ConfigurationSetting: Sendable {
    /// The environment variable, e.g. `PLAN_LEASE_TTL`.
    public let environmentName: String
    /// The flag, e.g. `plan-lease-ttl` (used as `--plan-lease-ttl`).
    public var flagName: String { environmentName.lowercased().replacingOccurrences(of: "_", with: "-") }
    /// The default as shown to a person.
    public let defaultDescription: String
    /// What the setting does.
    public let help: String
    let apply: @Sendable (inout ControlPlaneConfiguration, String) throws(ConfigurationError) -> Void
}

extension ControlPlaneConfiguration {
    /// Every setting, in the order of the reference's table.
    public static let settings: [ConfigurationSetting] = [
        setting("CONTROL_PLANE_ADDR", ":8443", "TLS listen address (`host:port`, or `:port` for all interfaces)") { config, value throws(ConfigurationError) in
            let (host, port) = try parseAddress(value, setting: "CONTROL_PLANE_ADDR")
            config.listenHost = host
            config.listenPort = port
        },
        setting("DATABASE_URL", "unset (SQLite in NKUDO_DATA_DIR)", "PostgreSQL URL, e.g. postgres://user:pass@host:5432/db") { config, value throws(ConfigurationError) in
            guard value.hasPrefix("postgres://") || value.hasPrefix("postgresql://") else {
                throw ConfigurationError(setting: "DATABASE_URL", reason: "expected a postgres:// or postgresql:// URL")
            }
            config.databaseURL = value
        },
        setting("DATABASE_MAX_CONNECTIONS", "10", "PostgreSQL connection pool size") { config, value throws(ConfigurationError) in
            config.databaseMaxConnections = try parseInt(value, setting: "DATABASE_MAX_CONNECTIONS", range: 1...1000)
        },
        setting("NKUDO_DATA_DIR", "./nkudo-data", "data directory: SQLite database, generated PKI, generated admin key") { config, value throws(ConfigurationError) in
            config.dataDirectory = value
        },
        setting("ADMIN_KEY", "generated into NKUDO_DATA_DIR/admin.key", "value expected in the X-Admin-Key header") { config, value throws(ConfigurationError) in
            config.adminKey = value.trimmingCharacters(in: .whitespaces).isEmpty ? nil : value
        },
        setting("DEFAULT_ENROLLMENT_TTL", "15m", "enrollment token lifetime when the request gives none") { config, value throws(ConfigurationError) in
            config.defaultEnrollmentTTL = try parsePositiveDuration(value, setting: "DEFAULT_ENROLLMENT_TTL")
        },
        setting("AGENT_CERT_TTL", "24h", "validity of issued agent client certificates") { config, value throws(ConfigurationError) in
            config.agentCertificateTTL = try parsePositiveDuration(value, setting: "AGENT_CERT_TTL")
        },
        setting("AGENT_RENEWAL_GRACE", "24h", "how long the credentials a certificate renewal replaced stay valid if the new ones are never used") { config, value throws(ConfigurationError) in
            config.agentRenewalGrace = try parsePositiveDuration(value, setting: "AGENT_RENEWAL_GRACE")
        },
        setting("HEARTBEAT_INTERVAL", "15s", "heartbeat interval advertised to agents (whole seconds, 1 s to 24 h)") { config, value throws(ConfigurationError) in
            config.heartbeatInterval = try parsePositiveDuration(value, setting: "HEARTBEAT_INTERVAL", minimum: .seconds(1), maximum: .seconds(86_400))
        },
        setting("PLAN_LEASE_TTL", "45s", "plan lease length") { config, value throws(ConfigurationError) in
            config.planLeaseTTL = try parsePositiveDuration(value, setting: "PLAN_LEASE_TTL")
        },
        setting("MAX_PENDING_PLANS", "2", "plans leased per heartbeat or /v1/plans/next call") { config, value throws(ConfigurationError) in
            config.maxPendingPlans = try parseInt(value, setting: "MAX_PENDING_PLANS", range: 1...100)
        },
        setting("HEARTBEAT_OFFLINE_AFTER", "60s", "agents silent this long become OFFLINE") { config, value throws(ConfigurationError) in
            config.heartbeatOfflineAfter = try parsePositiveDuration(value, setting: "HEARTBEAT_OFFLINE_AFTER")
        },
        setting("OFFLINE_SWEEP_INTERVAL", "15s", "offline sweeper tick; 0 disables the sweeper") { config, value throws(ConfigurationError) in
            config.offlineSweepInterval = try parseDuration(value, setting: "OFFLINE_SWEEP_INTERVAL")
        },
        setting("REQUIRE_PERSISTENT_PKI", "false", "refuse to start unless CA_CERT_FILE, CA_KEY_FILE, SERVER_CERT_FILE and SERVER_KEY_FILE are set") { config, value throws(ConfigurationError) in
            config.requirePersistentPKI = try parseBool(value, setting: "REQUIRE_PERSISTENT_PKI")
        },
        setting("HTTP_READ_TIMEOUT", "10s", "time allowed to receive a request body (408 after it)") { config, value throws(ConfigurationError) in
            config.httpReadTimeout = try parsePositiveDuration(value, setting: "HTTP_READ_TIMEOUT")
        },
        setting("HTTP_WRITE_TIMEOUT", "15s", "time a response write may wait for the client to read; a client that stops reading is disconnected") { config, value throws(ConfigurationError) in
            config.httpWriteTimeout = try parsePositiveDuration(value, setting: "HTTP_WRITE_TIMEOUT")
        },
        setting("HTTP_IDLE_TIMEOUT", "60s", "keep-alive idle timeout") { config, value throws(ConfigurationError) in
            config.httpIdleTimeout = try parsePositiveDuration(value, setting: "HTTP_IDLE_TIMEOUT")
        },
        setting("HTTP_SHUTDOWN_TIMEOUT", "10s", "graceful-shutdown deadline for in-flight requests") { config, value throws(ConfigurationError) in
            config.httpShutdownTimeout = try parsePositiveDuration(value, setting: "HTTP_SHUTDOWN_TIMEOUT")
        },
        setting("MAX_BODY_BYTES", "1048576", "largest accepted request body (413 above)") { config, value throws(ConfigurationError) in
            config.maxBodyBytes = try parseInt(value, setting: "MAX_BODY_BYTES", range: 1024...(64 << 20))
        },
        setting("CA_COMMON_NAME", "n-kudo-mvp1-agent-ca", "subject CN of a generated CA (1 to 64 characters)") { config, value throws(ConfigurationError) in
            // Checked here, not when the CA is generated after the migrations: X.509 caps a CN at 64.
            guard (1...64).contains(value.unicodeScalars.count), !value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
                throw ConfigurationError(setting: "CA_COMMON_NAME", reason: "must be 1 to 64 characters without control characters")
            }
            config.caCommonName = value
        },
        setting("CA_CERT_FILE", "unset", "PEM CA certificate to load (with CA_KEY_FILE)") { config, value throws(ConfigurationError) in
            config.caCertFile = value
        },
        setting("CA_KEY_FILE", "unset", "PEM CA private key to load (with CA_CERT_FILE)") { config, value throws(ConfigurationError) in
            config.caKeyFile = value
        },
        setting("SERVER_CERT_FILE", "unset", "PEM server certificate chain to load (with SERVER_KEY_FILE)") { config, value throws(ConfigurationError) in
            config.serverCertFile = value
        },
        setting("SERVER_KEY_FILE", "unset", "PEM server private key to load (with SERVER_CERT_FILE)") { config, value throws(ConfigurationError) in
            config.serverKeyFile = value
        },
        setting("SERVER_CERT_SANS", "localhost,127.0.0.1,::1,<hostname>", "comma-separated DNS names and IPs of a generated server certificate") { config, value throws(ConfigurationError) in
            let names = value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            guard !names.isEmpty else { throw ConfigurationError(setting: "SERVER_CERT_SANS", reason: "needs at least one name") }
            for name in names where name.utf8.count > 253 || name.unicodeScalars.contains(where: { $0.value < 0x21 || $0.value == 0x7F }) {
                let shown = name.count > 64 ? name.prefix(64) + "…" : name[...]
                throw ConfigurationError(setting: "SERVER_CERT_SANS", reason: "\"\(shown)\" is not a DNS name or IP address (at most 253 characters, no blanks)")
            }
            config.serverCertificateNames = names
        },
        setting("LOG_LEVEL", "info", "trace, debug, info, notice, warning, error or critical") { config, value throws(ConfigurationError) in
            guard let level = Logger.Level(rawValue: value.lowercased()) else {
                throw ConfigurationError(setting: "LOG_LEVEL", reason: "\"\(value)\" is not one of trace, debug, info, notice, warning, error, critical")
            }
            config.logLevel = level
        },
        setting("AUTH_FAILURE_LIMIT", "30", "failed authentications per source and AUTH_FAILURE_WINDOW before 429 (per replica); 0 disables") { config, value throws(ConfigurationError) in
            config.authFailureLimit = try parseInt(value, setting: "AUTH_FAILURE_LIMIT", range: 0...1_000_000)
        },
        setting("AUTH_FAILURE_WINDOW", "1m", "window of the failure budget and of one aggregated auth.failure audit event") { config, value throws(ConfigurationError) in
            config.authFailureWindow = try parsePositiveDuration(value, setting: "AUTH_FAILURE_WINDOW", minimum: .seconds(1))
        },
        setting("AUDIT_RETENTION", "90d", "audit events older than this are deleted") { config, value throws(ConfigurationError) in
            config.auditRetention = try parsePositiveDuration(value, setting: "AUDIT_RETENTION", minimum: .seconds(3600))
        },
        setting("METRICS_ADDR", "127.0.0.1:9464", "plain-HTTP listener of /metrics (host:port); off serves none") { config, value throws(ConfigurationError) in
            if value.lowercased() == "off" {
                config.metricsHost = nil
            } else {
                let (host, port) = try parseAddress(value, setting: "METRICS_ADDR")
                config.metricsHost = host
                config.metricsPort = port
            }
        },
        setting("METRICS_TOKEN", "unset", "bearer token that also serves /metrics on the API port (Authorization: Bearer …)") { config, value throws(ConfigurationError) in
            let token = value.trimmingCharacters(in: .whitespaces)
            guard token.count >= 16 else {
                throw ConfigurationError(setting: "METRICS_TOKEN", reason: "use at least 16 characters")
            }
            config.metricsToken = token
        },
    ]

    /// The configuration from flags (by environment name) over environment variables over
    /// defaults. An empty environment value counts as unset; every other value must be
    /// valid, else start-up fails with the setting's name and the reason.
    public static func resolve(flags: [String: String], environment: [String: String]) throws(ConfigurationError) -> ControlPlaneConfiguration {
        var configuration = ControlPlaneConfiguration()
        for setting in settings {
            let value = flags[setting.environmentName] ?? environment[setting.environmentName].flatMap { $0.isEmpty ? nil : $0 }
            if let value {
                try setting.apply(&configuration, value)
            }
        }
        let pairs = [("CA_CERT_FILE", configuration.caCertFile, "CA_KEY_FILE", configuration.caKeyFile),
                     ("SERVER_CERT_FILE", configuration.serverCertFile, "SERVER_KEY_FILE", configuration.serverKeyFile)]
        for (first, firstValue, second, secondValue) in pairs where (firstValue == nil) != (secondValue == nil) {
            throw ConfigurationError(setting: firstValue == nil ? first : second, reason: "\(first) and \(second) must both be set")
        }
        if configuration.requirePersistentPKI && (configuration.caCertFile == nil || configuration.serverCertFile == nil) {
            throw ConfigurationError(setting: "REQUIRE_PERSISTENT_PKI",
                                     reason: "persistent PKI is required: set CA_CERT_FILE, CA_KEY_FILE, SERVER_CERT_FILE and SERVER_KEY_FILE")
        }
        return configuration
    }

    private static func setting(_ name: String, _ defaultDescription: String, _ help: String,
                                apply: @escaping @Sendable (inout ControlPlaneConfiguration, String) throws(ConfigurationError) -> Void) -> ConfigurationSetting {
        ConfigurationSetting(environmentName: name, defaultDescription: defaultDescription, help: help, apply: apply)
    }

    static func parseAddress(_ value: String, setting: String) throws(ConfigurationError) -> (String, Int) {
        guard let colon = value.lastIndex(of: ":") else {
            throw ConfigurationError(setting: setting, reason: "expected host:port or :port, got \"\(value)\"")
        }
        var host = String(value[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard let port = Int(value[value.index(after: colon)...]), (1...65535).contains(port) else {
            throw ConfigurationError(setting: setting, reason: "invalid port in \"\(value)\"")
        }
        return (host.isEmpty ? "0.0.0.0" : host, port)
    }

    static func parseInt(_ value: String, setting: String, range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
        guard let number = Int(value.trimmingCharacters(in: .whitespaces)), range.contains(number) else {
            throw ConfigurationError(setting: setting, reason: "expected an integer in \(range.lowerBound)...\(range.upperBound), got \"\(value)\"")
        }
        return number
    }

    static func parseBool(_ value: String, setting: String) throws(ConfigurationError) -> Bool {
        switch value {
        case "1", "true", "TRUE", "True", "yes", "YES", "on", "ON": return true
        case "0", "false", "FALSE", "False", "no", "NO", "off", "OFF": return false
        default: throw ConfigurationError(setting: setting, reason: "expected true or false, got \"\(value)\"")
        }
    }

    static func parsePositiveDuration(_ value: String, setting: String, minimum: Duration = .milliseconds(1),
                                      maximum: Duration? = nil) throws(ConfigurationError) -> Duration {
        let duration = try parseDuration(value, setting: setting)
        guard duration >= minimum else {
            throw ConfigurationError(setting: setting, reason: "must be at least \(minimum), got \"\(value)\"")
        }
        if let maximum, duration > maximum {
            throw ConfigurationError(setting: setting, reason: "must be at most \(maximum), got \"\(value.prefix(64))\"")
        }
        return duration
    }

    /// Go duration syntax (`300ms`, `15s`, `1m30s`, `1.5h`, `0`), days (`90d`), or plain
    /// seconds (`10`).
    static func parseDuration(_ value: String, setting: String) throws(ConfigurationError) -> Duration {
        let text = value.trimmingCharacters(in: .whitespaces)
        if let seconds = Int(text), seconds >= 0 {
            guard Double(seconds) <= maximumDurationSeconds else {
                throw ConfigurationError(setting: setting, reason: "\"\(value.prefix(64))\" is longer than 100 years")
            }
            return .seconds(seconds)
        }
        let units: [(String, Double)] = [("ns", 1e-9), ("us", 1e-6), ("µs", 1e-6), ("ms", 1e-3), ("s", 1), ("m", 60), ("h", 3600), ("d", 86_400)]
        var rest = Substring(text)
        var total = 0.0
        guard !rest.isEmpty, !rest.hasPrefix("-") else {
            throw ConfigurationError(setting: setting, reason: "expected a duration like 15s, 1m30s or 500ms, got \"\(value)\"")
        }
        while !rest.isEmpty {
            let number = rest.prefix { $0.isNumber || $0 == "." }
            guard let amount = Double(number) else {
                throw ConfigurationError(setting: setting, reason: "expected a duration like 15s, 1m30s or 500ms, got \"\(value)\"")
            }
            rest = rest.dropFirst(number.count)
            guard let unit = units.first(where: { rest.hasPrefix($0.0) && !(($0.0 == "m") && rest.hasPrefix("ms")) }) else {
                throw ConfigurationError(setting: setting, reason: "missing or unknown unit in \"\(value)\" (ns, us, ms, s, m, h, d)")
            }
            rest = rest.dropFirst(unit.0.count)
            total += amount * unit.1
        }
        // Beyond a century the value is a typo, and beyond ~292 years it would not fit the
        // nanosecond count at all.
        guard total <= maximumDurationSeconds else {
            throw ConfigurationError(setting: setting, reason: "\"\(value.prefix(64))\" is longer than 100 years")
        }
        return .nanoseconds(Int64((total * 1e9).rounded()))
    }

    /// The longest duration a setting accepts: 100 years, in seconds.
    static let maximumDurationSeconds = 100 * 365.25 * 86_400
}
