import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// One kept-alive HTTP/1.1-over-TLS connection, used serially (one request at a time), as an
/// agent uses its connection to the control plane. Reconnects when the server closed it.
///
/// Deliberately thinner than AsyncHTTPClient: the load generator shares two cores with the
/// server it measures, so every microsecond it spends per request is taken from the server.
actor HTTPSConnection {
    struct Response: Sendable {
        var status: Int
        var contentType: String?
        var body: ByteBuffer
    }

    /// Why a request failed, by kind (the load generator counts errors by `kind`).
    struct Failure: Error, CustomStringConvertible {
        var kind: String
        var message: String
        var description: String { "\(kind): \(message)" }
    }

    private let host: String
    private let port: Int
    private let tls: NIOSSLContext
    private let timeout: TimeAmount
    private var channel: (any Channel)?
    private(set) var connects = 0

    init(host: String, port: Int, tls: NIOSSLContext, timeout: TimeAmount = .seconds(10)) {
        self.host = host
        self.port = port
        self.tls = tls
        self.timeout = timeout
    }

    /// Sends one request and waits for its response.
    func request(method: HTTPMethod, path: String, headers: [(String, String)], body: ByteBuffer?) async throws -> Response {
        let channel = try await connectedChannel()
        var head = HTTPRequestHead(version: .http1_1, method: method, uri: path)
        head.headers.add(name: "Host", value: host)
        for (name, value) in headers { head.headers.add(name: name, value: value) }
        if let body { head.headers.add(name: "Content-Length", value: String(body.readableBytes)) }
        let promise = channel.eventLoop.makePromise(of: Response.self)
        let timer = channel.eventLoop.scheduleTask(in: timeout) {
            promise.fail(Failure(kind: "timeout", message: "no response within \(self.timeout.nanoseconds / 1_000_000_000) s"))
            channel.close(promise: nil)
        }
        channel.writeAndFlush(PendingRequest(head: head, body: body, promise: promise), promise: nil)
        defer { timer.cancel() }
        do {
            return try await promise.futureResult.get()
        } catch let failure as Failure {
            self.channel = nil
            throw failure
        } catch {
            self.channel = nil
            throw Failure(kind: "connection", message: "\(error)")
        }
    }

    /// Opens the connection now (TLS handshake included) unless it is open.
    func open() async throws {
        _ = try await connectedChannel()
    }

    func close() async {
        try? await channel?.close()
        channel = nil
    }

    private func connectedChannel() async throws -> any Channel {
        if let channel, channel.isActive { return channel }
        connects += 1
        let tls = self.tls
        let serverName = host.first?.isNumber == true || host.contains(":") ? nil : host
        do {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.seconds(10))
                .channelOption(.tcpOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let sync = channel.pipeline.syncOperations
                        try sync.addHandler(NIOSSLClientHandler(context: tls, serverHostname: serverName))
                        try sync.addHTTPClientHandlers()
                        try sync.addHandler(ResponseHandler())
                    }
                }
                .connect(host: host, port: port).get()
            self.channel = channel
            return channel
        } catch {
            throw Failure(kind: "connect", message: "\(error)")
        }
    }
}

/// A request on its way out with the promise of its response.
struct PendingRequest {
    var head: HTTPRequestHead
    var body: ByteBuffer?
    var promise: EventLoopPromise<HTTPSConnection.Response>
}

/// Matches responses to requests in order (HTTP/1.1).
private final class ResponseHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = PendingRequest
    typealias OutboundOut = HTTPClientRequestPart

    private var waiting = CircularBuffer<EventLoopPromise<HTTPSConnection.Response>>()
    private var status = 0
    private var contentType: String?
    private var body: ByteBuffer?

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        waiting.append(request.promise)
        context.write(wrapOutboundOut(.head(request.head)), promise: nil)
        if let body = request.body { context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
        context.write(wrapOutboundOut(.end(nil)), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            status = Int(head.status.code)
            contentType = head.headers.first(name: "Content-Type")
            body = nil
        case .body(var part):
            if body == nil { body = part } else { body!.writeBuffer(&part) }
        case .end:
            guard let promise = waiting.popFirst() else { return }
            promise.succeed(HTTPSConnection.Response(status: status, contentType: contentType, body: body ?? ByteBuffer()))
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let kind = error is NIOSSLError || error is BoringSSLError ? "tls" : "connection"
        failAll(HTTPSConnection.Failure(kind: kind, message: "\(error)"))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(HTTPSConnection.Failure(kind: "closed", message: "the server closed the connection"))
        context.fireChannelInactive()
    }

    private func failAll(_ error: HTTPSConnection.Failure) {
        while let promise = waiting.popFirst() { promise.fail(error) }
    }
}
