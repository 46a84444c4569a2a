public import AsyncHTTPClient
import Foundation
public import Logging
public import NKudoContract
import NIOCore
import NIOHTTP1

/// Evaluates the host's NetBird peer on every call (reference §8.2) and reports the
/// contract's `NetbirdStatus` — parsed fields only, never the raw CLI output (§11.4 #33).
///
/// Optional auto-join runs `netbird up` with the setup key in a 0600 file
/// (`--setup-key-file`) or in `NB_SETUP_KEY`, never on a command line (§11.4 #29). The
/// key stays in memory until a join succeeds, so a failed or impossible join (CLI not
/// yet installed) is retried on later evaluations (§11.2 #22); it is never logged or
/// persisted.
public actor NetBirdMonitor {
    /// Reasons reported in `NetbirdStatus.reason`.
    public enum Reason {
        /// NetBird is disabled.
        public static let disabled = "netbird integration disabled"
        /// The install command failed.
        public static let installFailed = "netbird install failed"
        /// The CLI is not installed.
        public static let notInstalled = "netbird CLI not installed"
        /// `netbird up` failed.
        public static let joinFailed = "netbird join failed"
        /// Status unreadable after a join attempt.
        public static let statusAfterJoin = "unable to read netbird status after join"
        /// No peer is configured.
        public static let notConfigured = "netbird peer is not configured"
        /// The peer is configured but disconnected.
        public static let disconnected = "netbird peer disconnected"
        /// The service is required but not running.
        public static let serviceDown = "netbird service is not running"
        /// The mesh probe failed.
        public static let probeFailed = "mesh endpoint probe failed"
        /// All checks passed.
        public static let ready = "network ready"
    }

    private let configuration: NetBirdConfiguration
    private let httpClient: HTTPClient
    private let logger: Logger
    private let runner = ProcessRunner()
    private var setupKey: NetBirdSetupKey?
    private var lastPeer = NetBirdPeerStatus()

    /// Creates a monitor.
    ///
    /// - Parameters:
    ///   - configuration: What to check and how.
    ///   - setupKey: Key for auto-join (see ``NetBirdSetupKey/load(environment:file:)``).
    ///   - httpClient: Client of HTTP probes.
    ///   - logger: Where diagnostics go (never the key).
    public init(
        configuration: NetBirdConfiguration,
        setupKey: NetBirdSetupKey?,
        httpClient: HTTPClient = .shared,
        logger: Logger
    ) {
        self.configuration = configuration
        self.setupKey = setupKey
        self.httpClient = httpClient
        self.logger = logger
    }

    /// Whether a setup key is still held (no join has succeeded yet).
    public var holdsSetupKey: Bool { setupKey != nil }

    /// Runs one evaluation: CLI lookup (and install), service check, status read, join
    /// when needed and allowed, probe.
    public func evaluate() async -> NetbirdStatus {
        guard configuration.enabled else {
            return report(.notConfigured, Reason.disabled)
        }
        var binary = ExecutableLookup.find(configuration.binary, environment: configuration.environment)
        if binary == nil, !configuration.installCommand.isEmpty {
            do {
                try await install()
            } catch {
                logger.warning("netbird install failed", metadata: [EdgeLogKey.error: "\(error)"])
                return report(.degraded, Reason.installFailed)
            }
            binary = ExecutableLookup.find(configuration.binary, environment: configuration.environment)
        }
        guard let binary else {
            return report(.notConfigured, Reason.notInstalled)
        }
        let service = configuration.requireService ? await detectService() : .notDetected
        let joinKey = configuration.autoJoin ? setupKey : nil

        var read = await readStatus(binary)
        if let joinKey, (try? read.get().connected) != true {
            do {
                try await join(binary, key: joinKey)
                setupKey = nil
                logger.info("netbird join succeeded")
            } catch {
                logger.warning("netbird join failed", metadata: [EdgeLogKey.error: "\(joinKey.redacting("\(error)"))"])
                return report(.degraded, Reason.joinFailed)
            }
            read = await readStatus(binary)
        }

        let peer: NetBirdPeerStatus
        switch read {
        case .failure(let error):
            logger.warning("netbird status unreadable", metadata: [EdgeLogKey.error: "\(error)"])
            return joinKey != nil ? report(.degraded, Reason.statusAfterJoin) : report(.notConfigured, Reason.notConfigured)
        case .success(let value):
            peer = value
            lastPeer = value
        }
        guard peer.connected else {
            return peer.isUnconfigured ? report(.notConfigured, Reason.notConfigured) : report(.degraded, Reason.disconnected)
        }
        if configuration.requireService, service == .stopped {
            return report(.degraded, Reason.serviceDown)
        }
        if let probe = configuration.probe, !probe.target.trimmingCharacters(in: .whitespaces).isEmpty {
            let result = await runProbe(probe)
            guard result.ok else {
                logger.warning("netbird mesh probe failed", metadata: [EdgeLogKey.output: "\(result.output)"])
                return report(.degraded, Reason.probeFailed)
            }
        }
        return report(.connected, Reason.ready)
    }

    /// Runs the probe once: `ok` and a short output (`status=<code>`, ping output or
    /// the error text).
    public func runProbe(_ probe: NetBirdProbe) async -> (ok: Bool, output: String) {
        if probe.kind == .ping {
            return await pingProbe(probe)
        }
        return await httpProbe(probe)
    }

    // MARK: Steps

    private func report(_ state: NetbirdStatus.State, _ reason: String) -> NetbirdStatus {
        func known(_ text: String) -> String? { text.isEmpty ? nil : text }
        return NetbirdStatus(
            connected: state == .connected,
            state: state,
            reason: reason,
            peerId: known(lastPeer.peerID),
            ipv4: known(lastPeer.ipv4),
            managementUrl: known(lastPeer.managementURL),
            networkId: known(lastPeer.networkID),
            peersConnected: Int32(clamping: lastPeer.peersConnected),
            peersTotal: Int32(clamping: lastPeer.peersTotal),
            managementConnected: lastPeer.managementConnected,
            signalConnected: lastPeer.signalConnected,
            fqdn: known(lastPeer.fqdn)
        )
    }

    /// `status --json`, else plain `status`, within one shared deadline.
    private func readStatus(_ binary: String) async -> Result<NetBirdPeerStatus, NetBirdError> {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: configuration.statusTimeout)
        if let json = try? await runner.run(binary, ["status", "--json"], environment: configuration.environment, timeout: configuration.statusTimeout),
            json.succeeded, let peer = NetBirdStatusParser.parseJSON(json.output)
        {
            return .success(peer)
        }
        let remaining = clock.now.duration(to: deadline)
        guard remaining > .zero else {
            return .failure(NetBirdError("netbird status failed: timed out"))
        }
        do {
            let plain = try await runner.run(binary, ["status"], environment: configuration.environment, timeout: remaining)
            if plain.timedOut {
                return .failure(NetBirdError("netbird status failed: timed out"))
            }
            guard plain.exitCode == 0 else {
                return .failure(NetBirdError("netbird status failed: exit status \(plain.exitCode): \(Self.excerpt(plain.output))"))
            }
            return .success(NetBirdStatusParser.parsePlain(plain.output))
        } catch {
            return .failure(NetBirdError("netbird status failed: \(error)"))
        }
    }

    /// `netbird up` with the key in a 0600 file or in `NB_SETUP_KEY`.
    private func join(_ binary: String, key: NetBirdSetupKey) async throws {
        var arguments = ["up"]
        var environment = configuration.environment
        var keyFile: String?
        if configuration.keyDelivery == .environment {
            environment["NB_SETUP_KEY"] = key.value
        } else {
            let path = configuration.temporaryDirectory + "/nkudo-netbird-setup-key-" + UUID().uuidString.lowercased()
            try StateFileSystem.writeAtomically(Array(key.value.utf8), to: path)
            keyFile = path
            arguments += ["--setup-key-file", path]
        }
        defer {
            if let keyFile {
                try? FileManager.default.removeItem(atPath: keyFile)
            }
        }
        if !configuration.hostname.isEmpty {
            arguments += ["--hostname", configuration.hostname]
        }
        let result = try await runner.run(binary, arguments, environment: environment, timeout: configuration.joinTimeout)
        guard result.succeeded else {
            let cause = result.timedOut ? "timed out" : "exit status \(result.exitCode)"
            throw NetBirdError("netbird join failed: \(cause) output=\(key.redacting(Self.excerpt(result.output)))")
        }
    }

    private func install() async throws {
        let command = configuration.installCommand
        guard let program = ExecutableLookup.find(command[0], environment: configuration.environment) else {
            throw NetBirdError("install command \(command[0]) not found")
        }
        logger.info("installing netbird", metadata: [EdgeLogKey.command: "\(command.joined(separator: " "))"])
        let result = try await runner.run(
            program,
            Array(command.dropFirst()),
            environment: configuration.environment,
            timeout: configuration.installTimeout
        )
        guard result.succeeded else {
            let cause = result.timedOut ? "timed out" : "exit status \(result.exitCode)"
            throw NetBirdError("\(cause) output=\(Self.excerpt(result.output))")
        }
    }

    private enum ServiceState {
        case running
        case stopped
        case notDetected
    }

    /// systemd (`netbird`, `netbird.service`), else `pgrep -x netbird|netbirdd`.
    private func detectService() async -> ServiceState {
        let environment = configuration.environment
        let checks: [[String]]
        let tool: String
        if let systemctl = ExecutableLookup.find("systemctl", environment: environment) {
            tool = systemctl
            checks = [["is-active", "--quiet", "netbird"], ["is-active", "--quiet", "netbird.service"]]
        } else if let pgrep = ExecutableLookup.find("pgrep", environment: environment) {
            tool = pgrep
            checks = [["-x", "netbird"], ["-x", "netbirdd"]]
        } else {
            return .notDetected
        }
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: configuration.serviceTimeout)
        for arguments in checks {
            let remaining = clock.now.duration(to: deadline)
            guard remaining > .zero else {
                break
            }
            if let result = try? await runner.run(tool, arguments, environment: environment, timeout: remaining), result.succeeded {
                return .running
            }
        }
        return .stopped
    }

    private func httpProbe(_ probe: NetBirdProbe) async -> (ok: Bool, output: String) {
        var target = probe.target.trimmingCharacters(in: .whitespaces)
        if !target.contains("://") {
            target = "http://" + target
        }
        guard let url = URL(string: target) else {
            return (false, "invalid url \(target)")
        }
        guard let host = url.host, !host.isEmpty else {
            return (false, "url host is empty")
        }
        let minimum = probe.httpMinStatus > 0 ? probe.httpMinStatus : 200
        let maximum = probe.httpMaxStatus > 0 ? probe.httpMaxStatus : 399
        var request = HTTPClientRequest(url: target)
        request.headers.replaceOrAdd(name: "User-Agent", value: NetBirdProbe.userAgent)
        let timeout = probe.effectiveTimeout.components
        let nanoseconds = timeout.seconds * 1_000_000_000 + timeout.attoseconds / 1_000_000_000
        do {
            let response = try await httpClient.execute(request, timeout: .nanoseconds(nanoseconds))
            _ = try? await response.body.collect(upTo: 64 * 1024)
            let code = Int(response.status.code)
            return (minimum <= code && code <= maximum, "status=\(code)")
        } catch {
            return (false, "\(error)")
        }
    }

    private func pingProbe(_ probe: NetBirdProbe) async -> (ok: Bool, output: String) {
        guard let ping = ExecutableLookup.find("ping", environment: configuration.environment) else {
            return (false, "ping not found")
        }
        let seconds = max(1, probe.effectiveTimeout.components.seconds)
        do {
            let result = try await runner.run(
                ping,
                ["-c", "1", "-W", "\(seconds)", probe.target.trimmingCharacters(in: .whitespaces)],
                environment: configuration.environment,
                timeout: probe.effectiveTimeout + .seconds(2)
            )
            return (result.succeeded, result.output.trimmingCharacters(in: .whitespacesAndNewlines))
        } catch {
            return (false, "\(error)")
        }
    }

    /// The first 512 characters of a command's output, trimmed, for diagnostics.
    private static func excerpt(_ output: String) -> String {
        String(output.trimmingCharacters(in: .whitespacesAndNewlines).prefix(512))
    }
}
