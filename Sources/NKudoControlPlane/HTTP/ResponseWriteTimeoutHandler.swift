import NIOCore
import NIOHTTPTypes

/// Enforces `HTTP_WRITE_TIMEOUT`: a response's bytes must reach the kernel, each write
/// within the timeout. A client that stops reading (its receive window closed, the socket
/// buffers full) would otherwise keep the connection and the response in memory for as
/// long as it likes; it is disconnected instead.
///
/// The clock runs only while a write is waiting for the socket, and starts again whenever
/// one gets through (like nginx's `send_timeout`, "between two successive write
/// operations", though a write counts here when all of its buffer has reached the kernel,
/// not at each partial send): a streamed response that is quiet between its messages (the
/// reflection stream waiting for the client's next question) is not a stalled one. Sits in the HTTP/1 pipeline (and
/// each HTTP/2 stream's) after the HTTP codec.
final class ResponseWriteTimeoutHandler: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let timeout: TimeAmount
    private var deadline: Scheduled<Void>?
    /// Writes that have not reached the socket yet.
    private var pending = 0

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        pending += 1
        if deadline == nil { startClock(context: context) }
        let written = promise ?? context.eventLoop.makePromise()
        written.futureResult.assumeIsolated().whenComplete { [self] _ in
            pending = max(pending - 1, 0)
            deadline?.cancel()
            deadline = nil
            if pending > 0 { startClock(context: context) }
        }
        context.write(data, promise: written)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
    }

    private func startClock(context: ChannelHandlerContext) {
        deadline = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [self] in
            deadline = nil
            context.close(promise: nil)
        }
    }
}
