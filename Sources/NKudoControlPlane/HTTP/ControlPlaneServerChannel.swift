import HummingbirdCore
import HummingbirdHTTP2
import Logging
import NIOCore
import NIOHTTP2
import NIOSSL

/// The control plane's connections: TLS, then HTTP/2 or HTTP/1.1 as ALPN chose, served by
/// Hummingbird's HTTP/2 and HTTP/1 channels. It is Hummingbird's `HTTP2UpgradeChannel` with
/// one handler more on HTTP/2 connections, ``HTTP2PingAllowance``, in front of Hummingbird's
/// connection manager; `HTTP2UpgradeChannel` offers no place for it.
///
/// Every client certificate passes the TLS handshake: what a certificate proves is decided
/// per call by the authenticator (agent methods want one issued by our CA).
struct ControlPlaneServerChannel: HTTPChannelHandler {
    struct Value: ServerChildChannelValue {
        let negotiated: EventLoopFuture<NIONegotiatedHTTPVersion<HTTP1Channel.Value, HTTP2Channel.Value>>
        let channel: any Channel
    }

    private let sslContext: NIOSSLContext
    private let http1: HTTP1Channel
    private let http2: HTTP2Channel

    var responder: Responder { http1.responder }

    init(tls: TLSConfiguration, configuration: HTTP2ChannelConfiguration, responder: @escaping Responder) throws {
        var tls = tls
        tls.applicationProtocols = NIOHTTP2SupportedALPNProtocols
        sslContext = try NIOSSLContext(configuration: tls)
        http1 = HTTP1Channel(responder: responder, configuration: configuration.streamConfiguration)
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
            http1.setup(channel: connection, logger: logger)
        } http2ConnectionInitializer: { connection in
            http2.setup(channel: connection, logger: logger).flatMapThrowing { value in
                let operations = connection.pipeline.syncOperations
                try operations.addHandler(HTTP2PingAllowance(), position: .after(operations.handler(type: NIOHTTP2Handler.self)))
                return value
            }
        }
        .map { Value(negotiated: $0, channel: channel) }
    }

    func handle(value: Value, logger: Logger) async {
        do {
            switch try await value.negotiated.get() {
            case .http1_1(let connection): await http1.handle(value: connection, logger: logger)
            case .http2(let connection): await http2.handle(value: connection, logger: logger)
            }
        } catch {
            logger.debug("protocol negotiation failed", metadata: ["error": "\(error)"])
        }
    }
}
