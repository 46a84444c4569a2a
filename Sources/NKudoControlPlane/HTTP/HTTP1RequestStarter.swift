import NIOCore
import NIOHTTPTypes

/// Starts the task that answers an HTTP/1.1 connection's requests when one arrives and no
/// task is answering, and tells that task whether to go on or end.
///
/// It sits on the channel's event loop just in front of the connection's async channel, so it
/// sees every request head, every error (a malformed request among them) and the end of the
/// client's input before the task can read them; counting those and deciding on the event loop
/// leaves no moment in which one has arrived and no task will read it. See ``HTTP1Connection``.
final class HTTP1RequestStarter: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart

    /// The connection whose requests this starts tasks for; set once its async channel exists,
    /// and let go when the pipeline is torn down (the connection refers to this handler).
    var connection: HTTP1Connection?
    private let connections: HTTP1Connections
    /// Request heads, errors and input ends passed on that the answering task has not finished with.
    private var unanswered = 0
    private var answering = false

    /// A starter whose connection is one of `connections` while this handler is in its pipeline.
    init(connections: HTTP1Connections) {
        self.connections = connections
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        if let connection {
            connections.remove(connection)
        }
        connection = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head = unwrapInboundIn(data) {
            arrived()
        }
        context.fireChannelRead(data)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // The async channel ends its stream with the error: a task must read it (a malformed
        // request is answered 400, any other error closes the connection).
        arrived()
        context.fireErrorCaught(error)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // The client closed its side (the server allows half-closure): a task must read the
        // stream's end and close ours, as an idle connection has none waiting.
        if case .inputClosed? = event as? ChannelEvent {
            arrived()
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// Called by the answering task, on the event loop, when it has answered a request and read
    /// the whole of it: whether another has arrived. When none has, the task ends and the next
    /// request starts another.
    func answered() -> Bool {
        unanswered -= 1
        if unanswered > 0 { return true }
        answering = false
        return false
    }

    private func arrived() {
        unanswered += 1
        if !answering, let connection {
            answering = true
            connections.answer(connection)
        }
    }
}
