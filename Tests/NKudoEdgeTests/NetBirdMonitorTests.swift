import Foundation
import NKudoContract
import NKudoEdge
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Locates the `fake-netbird` executable built next to the test bundle
/// (`swift build --product fake-netbird`).
func fakeNetBirdPath() throws -> String {
    let nextToTests = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appending(path: "fake-netbird").path
    if FileManager.default.isExecutableFile(atPath: nextToTests) {
        return nextToTests
    }
    let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let debug = package.appending(path: ".build/debug/fake-netbird").path
    try #require(FileManager.default.isExecutableFile(atPath: debug), "build it with: swift build --product fake-netbird")
    return debug
}

/// One `up` call as recorded by fake-netbird.
struct RecordedJoin: Decodable {
    var argv: [String]
    var keySource: String
    var setupKey: String
    var keyFileMode: String

    enum CodingKeys: String, CodingKey {
        case argv
        case keySource = "key_source"
        case setupKey = "setup_key"
        case keyFileMode = "key_file_mode"
    }

    static func load(_ path: String) throws -> [RecordedJoin] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            return []
        }
        return try text.split(separator: "\n").map { try JSONDecoder().decode(RecordedJoin.self, from: Data($0.utf8)) }
    }
}

/// A one-response-per-connection HTTP server on 127.0.0.1 that records User-Agents.
final class TinyHTTPServer: @unchecked Sendable {
    // @unchecked Sendable: `agents` is only touched under `lock`; `fd` is immutable.
    let port: Int
    private let fd: Int32
    private let lock = NSLock()
    private var agents: [String] = []

    init(status: Int) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw -> Bool in
                bind(fd, raw, length) == 0 && listen(fd, 16) == 0 && getsockname(fd, raw, &length) == 0
            }
        }
        try #require(bound)
        self.fd = fd
        port = Int(UInt16(bigEndian: address.sin_port))
        Thread.detachNewThread { [self] in
            while true {
                let client = accept(fd, nil, nil)
                guard client >= 0 else {
                    return
                }
                var request = [UInt8]()
                var buffer = [UInt8](repeating: 0, count: 4096)
                while !String(decoding: request, as: UTF8.self).contains("\r\n\r\n") {
                    let count = read(client, &buffer, buffer.count)
                    guard count > 0 else {
                        break
                    }
                    request += buffer[0..<count]
                }
                let text = String(decoding: request, as: UTF8.self)
                for line in text.split(separator: "\r\n") where line.lowercased().hasPrefix("user-agent:") {
                    let agent = line.dropFirst("user-agent:".count).trimmingCharacters(in: .whitespaces)
                    lock.withLock { agents.append(agent) }
                }
                let response = "HTTP/1.1 \(status) Status\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                _ = response.withCString { write(client, $0, strlen($0)) }
                close(client)
            }
        }
    }

    var userAgents: [String] { lock.withLock { agents } }

    func stop() {
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }
}

/// A TCP port on 127.0.0.1 that nothing listens on.
func refusedPort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}

@Suite("NetBirdMonitor", .serialized)
struct NetBirdMonitorTests {
    let directory: String
    let record: String
    let fake: String

    init() throws {
        directory = try TestFiles.makeTemporaryDirectory("netbird")
        record = directory + "/up.record"
        fake = try fakeNetBirdPath()
    }

    func configuration(_ state: String, _ extra: [String: String] = [:]) -> NetBirdConfiguration {
        var configuration = NetBirdConfiguration()
        configuration.enabled = true
        configuration.binary = fake
        configuration.temporaryDirectory = directory
        configuration.environment = ["PATH": "/usr/bin:/bin", "FAKE_NETBIRD_STATE": state, "FAKE_NETBIRD_RECORD": record]
            .merging(extra) { $1 }
        return configuration
    }

    func monitor(_ configuration: NetBirdConfiguration, key: String? = nil) -> NetBirdMonitor {
        NetBirdMonitor(configuration: configuration, setupKey: key.flatMap(NetBirdSetupKey.init), logger: TestFiles.logger)
    }

    @Test("disabled and not installed are NotConfigured")
    func disabledAndMissing() async {
        var disabled = configuration("connected")
        disabled.enabled = false
        let first = await monitor(disabled).evaluate()
        #expect(first.state == .notConfigured)
        #expect(first.reason == "netbird integration disabled")
        #expect(!first.connected)
        var missing = configuration("connected")
        missing.binary = "netbird-not-installed-here"
        let second = await monitor(missing).evaluate()
        #expect(second.state == .notConfigured)
        #expect(second.reason == "netbird CLI not installed")
    }

    @Test("a connected peer is Connected with the parsed fields only")
    func connected() async {
        let status = await monitor(configuration("connected")).evaluate()
        #expect(status.state == .connected)
        #expect(status.connected)
        #expect(status.reason == "network ready")
        #expect(status.peerId == "pQ3v7rZ4mN2xK8sL1dF6gH9jB0cV5nM3aS7dQ2wE4rT=")
        #expect(status.ipv4 == "100.92.1.5")
        #expect(status.managementUrl == "https://api.netbird.io:443")
        #expect(status.fqdn == "edge-a.netbird.cloud")
        #expect(status.networkId == nil)
        #expect(status.peersConnected == 2)
        #expect(status.peersTotal == 3)
        #expect(status.managementConnected && status.signalConnected)
    }

    @Test("states without a join", arguments: [
        ("disconnected", NetbirdStatus.State.degraded, "netbird peer disconnected"),
        ("not-configured", .notConfigured, "netbird peer is not configured"),
        ("status-fails", .notConfigured, "netbird peer is not configured"),
    ])
    func statesWithoutJoin(state: String, expected: NetbirdStatus.State, reason: String) async throws {
        let status = await monitor(configuration(state), key: "KEY-NOT-USED").evaluate()
        #expect(status.state == expected)
        #expect(status.reason == reason)
        #expect(!status.connected)
        #expect(try RecordedJoin.load(record).isEmpty)
    }

    @Test("auto-join passes the key in a 0600 file, never on argv, and deletes the file")
    func joinWithKeyFile() async throws {
        var configuration = configuration("not-configured")
        configuration.autoJoin = true
        configuration.hostname = "edge-a"
        let monitor = monitor(configuration, key: "SETUP-KEY-0123-SECRET")
        let status = await monitor.evaluate()
        #expect(status.state == .connected)
        #expect(status.reason == "network ready")
        #expect(await !monitor.holdsSetupKey)
        let joins = try RecordedJoin.load(record)
        try #require(joins.count == 1)
        #expect(!joins[0].argv.contains { $0.contains("SETUP-KEY") })
        #expect(Array(joins[0].argv.dropFirst()).prefix(2) == ["up", "--setup-key-file"])
        #expect(joins[0].argv.suffix(2) == ["--hostname", "edge-a"])
        #expect(joins[0].keySource == "file")
        #expect(joins[0].setupKey == "SETUP-KEY-0123-SECRET")
        #expect(joins[0].keyFileMode == "600")
        #expect(!FileManager.default.fileExists(atPath: joins[0].argv[3]))
        #expect(try TestFiles.list(directory).allSatisfy { !$0.contains("setup-key") })
        _ = await monitor.evaluate()
        #expect(try RecordedJoin.load(record).count == 1)
    }

    @Test("auto-join can pass the key in NB_SETUP_KEY")
    func joinWithEnvironment() async throws {
        var configuration = configuration("status-fails")
        configuration.autoJoin = true
        configuration.keyDelivery = .environment
        let status = await monitor(configuration, key: "ENV-SETUP-KEY").evaluate()
        #expect(status.state == .connected)
        let joins = try RecordedJoin.load(record)
        try #require(joins.count == 1)
        #expect(Array(joins[0].argv.dropFirst()) == ["up"])
        #expect(joins[0].keySource == "env")
        #expect(joins[0].setupKey == "ENV-SETUP-KEY")
    }

    @Test("a failed join is Degraded and retried on the next evaluation")
    func joinRetried() async throws {
        var configuration = configuration("disconnected", ["FAKE_NETBIRD_UP_FAILS_TIMES": "1"])
        configuration.autoJoin = true
        let monitor = monitor(configuration, key: "RETRY-KEY")
        let first = await monitor.evaluate()
        #expect(first.state == .degraded)
        #expect(first.reason == "netbird join failed")
        #expect(await monitor.holdsSetupKey)
        let second = await monitor.evaluate()
        #expect(second.state == .connected)
        #expect(await !monitor.holdsSetupKey)
        #expect(try RecordedJoin.load(record).map(\.setupKey) == ["RETRY-KEY", "RETRY-KEY"])
    }

    @Test("a join that keeps failing keeps being retried")
    func joinAlwaysFails() async throws {
        var configuration = configuration("not-configured", ["FAKE_NETBIRD_UP_FAILS": "1"])
        configuration.autoJoin = true
        let monitor = monitor(configuration, key: "BAD-KEY")
        for _ in 0..<3 {
            let status = await monitor.evaluate()
            #expect(status.state == .degraded)
            #expect(status.reason == "netbird join failed")
        }
        #expect(try RecordedJoin.load(record).count == 3)
        #expect(await monitor.holdsSetupKey)
    }

    @Test("the key survives evaluations before the CLI is installed")
    func keyKeptUntilInstalled() async throws {
        var configuration = configuration("not-configured")
        configuration.autoJoin = true
        configuration.binary = directory + "/bin/netbird"
        let monitor = monitor(configuration, key: "LATE-KEY")
        let first = await monitor.evaluate()
        #expect(first.reason == "netbird CLI not installed")
        try TestFiles.makeDirectory(directory + "/bin")
        try FileManager.default.createSymbolicLink(atPath: directory + "/bin/netbird", withDestinationPath: fake)
        let second = await monitor.evaluate()
        #expect(second.state == .connected)
        #expect(try RecordedJoin.load(record).map(\.setupKey) == ["LATE-KEY"])
    }

    @Test("a hanging CLI is killed at the status deadline")
    func statusTimeout() async throws {
        let script = directory + "/hanging-netbird"
        try TestFiles.write("#!/bin/sh\nexec sleep 30\n", to: script, mode: 0o755)
        var configuration = configuration("connected")
        configuration.binary = script
        configuration.statusTimeout = .seconds(1)
        let started = ContinuousClock.now
        let status = await monitor(configuration).evaluate()
        #expect(ContinuousClock.now - started < .seconds(20))
        #expect(status.state == .notConfigured)
    }

    @Test("HTTP probe: status range, scheme-less target, User-Agent, refused port")
    func httpProbe() async throws {
        let ok = try TinyHTTPServer(status: 204)
        defer { ok.stop() }
        let failing = try TinyHTTPServer(status: 503)
        defer { failing.stop() }
        let monitor = monitor(configuration("connected"))

        let first = await monitor.runProbe(NetBirdProbe(kind: .http, target: "127.0.0.1:\(ok.port)/healthz"))
        #expect(first.ok)
        #expect(first.output == "status=204")
        #expect(ok.userAgents == ["nkudo-agent-netbird-check/0.1"])

        let second = await monitor.runProbe(NetBirdProbe(kind: .http, target: "http://127.0.0.1:\(failing.port)/"))
        #expect(!second.ok)
        #expect(second.output == "status=503")
        let widened = await monitor.runProbe(NetBirdProbe(kind: .http, target: "http://127.0.0.1:\(failing.port)/", httpMinStatus: 500, httpMaxStatus: 503))
        #expect(widened.ok)

        let refused = await monitor.runProbe(NetBirdProbe(kind: .http, target: "http://127.0.0.1:\(refusedPort())/", timeout: .seconds(2)))
        #expect(!refused.ok)
        #expect(!refused.output.isEmpty)
    }

    @Test("a failing probe makes a connected peer Degraded")
    func probeFailureDegrades() async throws {
        var configuration = configuration("connected")
        configuration.probe = NetBirdProbe(kind: .http, target: "127.0.0.1:\(refusedPort())", timeout: .seconds(2))
        let status = await monitor(configuration).evaluate()
        #expect(status.state == .degraded)
        #expect(status.reason == "mesh endpoint probe failed")
        #expect(!status.connected)
        #expect(status.ipv4 == "100.92.1.5")
    }

    @Test("ping probe runs `ping -c 1 -W <s> <target>`")
    func pingProbe() async throws {
        let bin = directory + "/pingbin"
        try TestFiles.write("#!/bin/sh\necho \"$@\" > \"\(directory)/ping.args\"\nexit 0\n", to: bin + "/ping", mode: 0o755)
        var configuration = configuration("connected")
        configuration.environment["PATH"] = bin + ":/usr/bin:/bin"
        let monitor = monitor(configuration)
        let result = await monitor.runProbe(NetBirdProbe(kind: NetBirdProbe.Kind(parsing: " PING "), target: "100.92.7.12", timeout: .milliseconds(2500)))
        #expect(result.ok)
        #expect(try String(contentsOfFile: directory + "/ping.args", encoding: .utf8) == "-c 1 -W 2 100.92.7.12\n")
        #expect(NetBirdProbe.Kind(parsing: "tcp") == .http)
    }
}
