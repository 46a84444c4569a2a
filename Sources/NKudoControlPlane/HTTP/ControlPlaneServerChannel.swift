import HummingbirdCore
import HummingbirdHTTP2
import Logging
import NIOCore
import NIOHTTP2
import NIOSSL

/// The control plane's connections: TLS, then HTTP/2 or HTTP/1.1 as ALPN chose, served by
/// Hummingbird's HTTP/2 channel and ``HTTP1Connection``. It is Hummingbird's
/// `HTTP2UpgradeChannel` with one handler more on HTTP/2 connections, ``HTTP2PingAllowance``,
/// in front of Hummingbird's connection manager (`HTTP2UpgradeChannel` offers no place for it),
/// and with no task kept per idle HTTP/1.1 connection: ``HTTP1Connection`` starts one per
/// burst of requests, where Hummingbird's `HTTP1Channel` keeps one per connection.
///
/// Every client certificate passes the TLS handshake: what a certificate proves is decided
/// per call by the authenticator (agent methods want one issued by our CA).
struct ControlPlaneServerChannel: HTTPChannelHandler {
    struct Value: ServerChildChannelValue {
        let negotiated: EventLoopFuture<NIONegotiatedHTTPVersion<Void, HTTP2Channel.Value>>
        let channel: any Channel
    }

    private let sslContext: NIOSSLContext
    private let http1: HTTP1Channel.Configuration
    private let http1Connections: HTTP1Connections
    private let http2: HTTP2Channel
    let responder: Responder

    /// Serves with `responder`; HTTP/1.1 connections are kept in `http1Connections`.
    init(tls: TLSConfiguration, configuration: HTTP2ChannelConfiguration, http1Connections: HTTP1Connections,
         responder: @escaping Responder) throws {
        var tls = tls
        tls.applicationProtocols = NIOHTTP2SupportedALPNProtocols
        sslContext = try NIOSSLContext(configuration: tls)
        http1 = configuration.streamConfiguration
        self.http1Connections = http1Connections
        self.responder = responder
        http2 = HTTP2Channel(responder: responder, configuration: configuration)
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        do {
            try channel.pipeline.syncOperations.addHandler(
                NIOSSLServerHandler(context: sslContext, customVerificationCallback: { _, verified in verified.succeed(.certificateVerified) },
                                    configuration: .init()))
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        return channel.configureHTTP2AsyncSecureUpgrade { connection in
            connection.eventLoop.makeCompletedFuture {
                try HTTP1Connection.setup(channel: connection, configuration: http1, responder: responder,
                                          connections: http1Connections, logger: logger)
            }
        } http2ConnectionInitializer: { connection in
            http2.setup(channel: connection, logger: logger).flatMapThrowing { value in
                let operations = connection.pipeline.syncOperations
                try operations.addHandler(HTTP2PingAllowance(), position: .after(operations.handler(type: NIOHTTP2Handler.self)))
                return value
            }
        }
        .map { Value(negotiated: $0, channel: channel) }
    }

    /// Serves an HTTP/2 connection until it closes; returns at once for HTTP/1.1, whose
    /// connection starts a task when a request arrives.
    func handle(value: Value, logger: Logger) async {
        do {
            if case .http2(let connection) = try await value.negotiated.get() {
                await http2.handle(value: connection, logger: logger)
            }
        } catch {
            logger.debug("protocol negotiation failed", metadata: ["error": "\(error)"])
        }
    }
}
