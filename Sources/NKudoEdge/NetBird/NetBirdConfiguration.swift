import Foundation

/// How the setup key reaches `netbird up`; never on the command line.
public struct NetBirdKeyDelivery: Sendable, Hashable {
    let rawValue: String

    /// `netbird up --setup-key-file <file>`: the key is written to a fresh 0600 file
    /// that is deleted after the command returns.
    public static let setupKeyFile = NetBirdKeyDelivery(rawValue: "setup-key-file")
    /// `netbird up` with the key in the `NB_SETUP_KEY` environment variable.
    public static let environment = NetBirdKeyDelivery(rawValue: "environment")
}

/// A reachability check of a mesh endpoint (reference §8.6).
public struct NetBirdProbe: Sendable, Hashable {
    /// The probe's method.
    public struct Kind: Sendable, Hashable {
        let rawValue: String

        /// `GET` with status in `httpMinStatus...httpMaxStatus`.
        public static let http = Kind(rawValue: "http")
        /// `ping -c 1 -W <s> <target>`.
        public static let ping = Kind(rawValue: "ping")

        /// `ping` (case-insensitive, trimmed) selects ping; anything else HTTP.
        public init(parsing text: String) {
            self = text.trimmingCharacters(in: .whitespaces).lowercased() == "ping" ? .ping : .http
        }

        init(rawValue: String) {
            self.rawValue = rawValue
        }
    }

    /// User-Agent of HTTP probes.
    public static let userAgent = "nkudo-agent-netbird-check/0.1"

    /// Method.
    public var kind: Kind
    /// URL (`http://` is prepended when it has no scheme) or host to ping.
    public var target: String
    /// Deadline of one probe; non-positive means 5 seconds.
    public var timeout: Duration
    /// Lowest accepted HTTP status; 0 means 200.
    public var httpMinStatus: Int
    /// Highest accepted HTTP status; 0 means 399.
    public var httpMaxStatus: Int

    /// Creates a probe.
    public init(kind: Kind, target: String, timeout: Duration = .seconds(5), httpMinStatus: Int = 200, httpMaxStatus: Int = 399) {
        self.kind = kind
        self.target = target
        self.timeout = timeout
        self.httpMinStatus = httpMinStatus
        self.httpMaxStatus = httpMaxStatus
    }

    /// The effective timeout (5 seconds when not positive).
    var effectiveTimeout: Duration {
        timeout > .zero ? timeout : .seconds(5)
    }
}

/// Settings of the NetBird integration (reference §8.1). Defaults: disabled, no
/// auto-join, status deadline 8 s, join 60 s, install 3 min, service check 5 s.
public struct NetBirdConfiguration: Sendable {
    /// Whether NetBird is evaluated at all.
    public var enabled: Bool = false
    /// Join with the setup key when the peer is not connected.
    public var autoJoin: Bool = false
    /// `--hostname` passed to `netbird up` when not empty.
    public var hostname: String = ""
    /// Report `Degraded` when the NetBird service is detected but not running.
    public var requireService: Bool = false
    /// Command (argv) that installs NetBird when the CLI is missing; empty for none.
    public var installCommand: [String] = []
    /// Optional mesh probe.
    public var probe: NetBirdProbe?
    /// NetBird CLI name (looked up on `PATH`) or path.
    public var binary: String = "netbird"
    /// How the setup key is handed to `netbird up`.
    public var keyDelivery: NetBirdKeyDelivery = .setupKeyFile
    /// Deadline shared by `status --json` and the plain `status` fallback.
    public var statusTimeout: Duration = .seconds(8)
    /// Deadline of `netbird up`.
    public var joinTimeout: Duration = .seconds(60)
    /// Deadline of the install command.
    public var installTimeout: Duration = .seconds(180)
    /// Deadline of service detection.
    public var serviceTimeout: Duration = .seconds(5)
    /// Environment of child processes (and `PATH` for lookups).
    public var environment: [String: String] = ProcessInfo.processInfo.environment
    /// Directory for the short-lived setup-key file.
    public var temporaryDirectory: String = NSTemporaryDirectory()

    /// Creates the default (disabled) configuration.
    public init() {}
}
