import NIOCore
import NIOHTTP2

/// Lets an HTTP/2 client ping a connection it is using, as gRPC clients do.
///
/// Hummingbird's connection manager, which sits after this handler, accepts one PING per
/// 30 s and closes the connection (GOAWAY `ENHANCE_YOUR_CALM`) at the third one sooner,
/// whatever the connection carries. gRPC's C core sends a PING with data it receives to
/// estimate the bandwidth-delay product (BDP), so a busy grpcio channel lost about one call
/// in a hundred when the server cut it mid-call (`UNAVAILABLE`). gRPC servers forgive pings
/// that follow their own frames (grpc-go resets its ping strikes whenever it sends headers
/// or data); this handler does the same with the connection's streams: a PING after a
/// stream opened or closed since the previous one, or at least `interval` after the last
/// one let through, is not passed on (NIOHTTP2 has acknowledged it already). Others go to
/// the manager's policing, so a flood still closes the connection.
final class HTTP2PingAllowance: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTP2Frame
    typealias InboundOut = HTTP2Frame

    /// The shortest time between two PINGs let through without any stream activity between.
    static let interval = TimeAmount.milliseconds(100)

    private var activitySinceLastPing = true
    private var lastAllowed: NIODeadline?

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .ping(_, ack: false) = unwrapInboundIn(data).payload, allows(at: context.eventLoop.now) {
            return
        }
        context.fireChannelRead(data)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is NIOHTTP2StreamCreatedEvent || event is StreamClosedEvent {
            activitySinceLastPing = true
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// Whether a PING received at `time` is allowed, recording it when it is.
    private func allows(at time: NIODeadline) -> Bool {
        let spaced = lastAllowed.map { time - $0 >= Self.interval } ?? true
        guard activitySinceLastPing || spaced else { return false }
        activitySinceLastPing = false
        lastAllowed = time
        return true
    }
}
