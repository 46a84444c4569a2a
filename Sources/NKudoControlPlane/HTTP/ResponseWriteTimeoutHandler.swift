import NIOCore
import NIOHTTPTypes

/// Enforces `HTTP_WRITE_TIMEOUT`: a response must be handed to the kernel within the
/// timeout from its head. A client that stops reading (its receive window closed, the
/// socket buffers full) would otherwise keep the connection and the response in memory
/// for as long as it likes; it is disconnected instead.
///
/// Sits in the HTTP/1 pipeline after the HTTP codec: the clock starts when a response head
/// is written and stops when the response's end has been written to the socket.
final class ResponseWriteTimeoutHandler: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let timeout: TimeAmount
    private var deadline: Scheduled<Void>?
    /// Responses whose end has not reached the socket yet (pipelined requests).
    private var unfinished = 0

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let loop = context.eventLoop.assumeIsolated()
        switch unwrapOutboundIn(data) {
        case .head:
            unfinished += 1
            if deadline == nil {
                deadline = loop.scheduleTask(in: timeout) { [self] in
                    deadline = nil
                    context.close(promise: nil)
                }
            }
            context.write(data, promise: promise)
        case .body:
            context.write(data, promise: promise)
        case .end:
            let written = promise ?? context.eventLoop.makePromise()
            written.futureResult.assumeIsolated().whenComplete { [self] _ in
                unfinished -= 1
                if unfinished <= 0 {
                    unfinished = 0
                    deadline?.cancel()
                    deadline = nil
                }
            }
            context.write(data, promise: written)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
    }
}
