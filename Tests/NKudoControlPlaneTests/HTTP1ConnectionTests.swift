import ControlPlaneTestSupport
import Foundation
import HummingbirdCore
import Logging
import NIOCore
import NIOEmbedded
import NIOPosix
import NIOSSL
import NKudoContract
import Synchronization
import Testing

@testable import NKudoControlPlane

/// HTTP/1.1 connections answered by a task only while they have a request in hand
/// (``HTTP1Connection``): what a client sees must not change when the connection has been idle.
@Suite("HTTP/1.1 connections")
struct HTTP1ConnectionTests {
    static let healthz = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"

    /// Runs `body` against a new control plane with a raw connection to it; closes both after.
    static func connected(_ body: (ControlPlaneHarness, RawTLSConnection) async throws -> Void) async throws {
        try await ControlPlaneHarness.with { harness in
            let connection = try await RawTLSConnection.open(port: harness.port)
            defer { connection.close() }
            try await body(harness, connection)
        }
    }

    @Test("pipelined requests are answered in order, and a connection idle in between is answered again")
    func pipelinedAndIdle() async throws {
        try await Self.connected { _, connection in
            try await connection.send(Self.healthz + "GET /no-such-route HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" + Self.healthz)
            #expect(try await connection.statuses(count: 3) == ["200", "404", "200"])
            for round in 1...3 {
                try await Task.sleep(for: .milliseconds(300))
                try await connection.send(Self.healthz)
                #expect(try await connection.statuses(count: 3 + round).last == "200", "round \(round)")
            }
            #expect(connection.isActive)
        }
    }

    @Test("a malformed request on a connection idle since its last answer gets 400 and the connection is closed")
    func malformedAfterIdle() async throws {
        try await Self.connected { _, connection in
            try await connection.send(Self.healthz)
            #expect(try await connection.statuses(count: 1) == ["200"])
            try await Task.sleep(for: .milliseconds(300))
            try await connection.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: many\r\n\r\n")
            #expect(try await connection.statuses(count: 2) == ["200", "400"])
            #expect(try await connection.closes(within: .seconds(5)))
        }
    }

    @Test("a client that ends its side after a request gets the answer, and the server closes the connection", arguments: [
        Duration.zero, .milliseconds(300),
    ])
    func clientEndsItsSide(pause: Duration) async throws {
        try await Self.connected { _, connection in
            try await connection.send(Self.healthz)
            if pause > .zero {
                #expect(try await connection.statuses(count: 1) == ["200"])
                try await Task.sleep(for: pause)
            }
            try await connection.endOutput()
            #expect(try await connection.statuses(count: 1) == ["200"])
            #expect(try await connection.closes(within: .seconds(5)))
        }
    }

    @Test("a closed connection's state is released: its handlers, its async channel and its record among the open ones")
    func closedConnectionIsReleased() async throws {
        let channel = EmbeddedChannel()
        let connections = HTTP1Connections()
        try HTTP1Connection.setup(channel: channel, configuration: HTTP1Channel.Configuration(), responder: { _, _, _ in },
                                  connections: connections, logger: Logger(label: "test"))
        weak let connection = try channel.pipeline.syncOperations.handler(type: HTTP1RequestStarter.self).connection
        #expect(connection != nil)
        try await channel.close()
        channel.embeddedEventLoop.run()
        let removed = try? channel.pipeline.syncOperations.handler(type: HTTP1RequestStarter.self)
        #expect(removed == nil)
        #expect(connection == nil, "the connection and its starter keep each other alive")
    }

    @Test("a graceful shutdown answers the long poll in flight at once, closes the connections and waits for them")
    func gracefulShutdown() async throws {
        try await Self.connected { harness, waiting in
            let fleet = try await Fleet.create(harness)
            let applied = try await fleet.tenantClient.applyPlan(ApplyPlanRequest(siteId: fleet.site.id, idempotencyKey: "drain",
                                                                                  actions: [.init(operation: .create, name: "drain")]))
            let idle = try await RawTLSConnection.open(port: harness.port)
            defer { idle.close() }
            try await idle.send(Self.healthz)
            #expect(try await idle.statuses(count: 1) == ["200"])
            try await waiting.send("GET /plans/\(applied.planId)?wait=60s HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: \(fleet.apiKey)\r\n\r\n")
            try await Task.sleep(for: .milliseconds(500))
            let stopping = ContinuousClock.now
            await harness.shutDownGracefully()
            let stopped = stopping.duration(to: .now)
            #expect(stopped < .seconds(5), "the shutdown waited \(stopped) for a long poll of a minute")
            #expect(try await waiting.statuses(count: 1) == ["200"], "the long poll is answered, not cut")
            #expect(try await waiting.closes(within: .seconds(5)))
            #expect(try await idle.closes(within: .seconds(5)))
        }
    }

    @Test("a server that stops closes the connections idle on it")
    func stoppedServerClosesIdleConnections() async throws {
        try await Self.connected { harness, connection in
            try await connection.send(Self.healthz)
            #expect(try await connection.statuses(count: 1) == ["200"])
            await harness.stopServing()
            #expect(try await connection.closes(within: .seconds(5)))
        }
    }
}

/// A TLS 1.3 connection to the control plane offering HTTP/1.1 only, that sends bytes as
/// given and keeps everything it receives.
final class RawTLSConnection: Sendable {
    private final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let received = Mutex("")

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let text = String(buffer: unwrapInboundIn(data))
            received.withLock { $0 += text }
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            // The server's close_notify after the client ended its side: the connection is done.
            if case .inputClosed? = event as? ChannelEvent {
                context.close(promise: nil)
            }
            context.fireUserInboundEventTriggered(event)
        }
    }

    private let channel: any Channel
    private let collector: Collector

    private init(channel: any Channel, collector: Collector) {
        self.channel = channel
        self.collector = collector
    }

    static func open(port: Int) async throws -> RawTLSConnection {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateVerification = .none
        tls.minimumTLSVersion = .tlsv13
        tls.applicationProtocols = ["http/1.1"]
        let context = try NIOSSLContext(configuration: tls)
        let collector = Collector()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: context, serverHostname: nil))
                    try channel.pipeline.syncOperations.addHandler(collector)
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        return RawTLSConnection(channel: channel, collector: collector)
    }

    var isActive: Bool { channel.isActive }

    func send(_ text: String) async throws {
        try await channel.writeAndFlush(ByteBuffer(string: text)).get()
    }

    /// Sends TLS close_notify and shuts the socket's sending side, reading on.
    func endOutput() async throws {
        try await channel.close(mode: .output).get()
    }

    /// The status codes of the first `count` responses, waiting up to 10 s for them.
    func statuses(count: Int) async throws -> [String] {
        for _ in 0..<1000 {
            let codes = collector.received.withLock { text in
                text.components(separatedBy: "HTTP/1.1 ").dropFirst().map { String($0.prefix(3)) }
            }
            if codes.count >= count { return Array(codes.prefix(count)) }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw HarnessError("fewer than \(count) responses within 10 s: \(collector.received.withLock { $0 })")
    }

    /// Whether the connection closes within `limit`.
    func closes(within limit: Duration) async throws -> Bool {
        let deadline = ContinuousClock.now + limit
        while channel.isActive, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        return !channel.isActive
    }

    func close() {
        channel.close(promise: nil)
    }
}
