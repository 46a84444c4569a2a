import NIOCore
import NIOHTTPTypes
import Synchronization

/// Notes that the client closed its side of the connection. The server allows half-closed
/// connections (Hummingbird's default), so a client that goes away while a call waits
/// leaves the channel active: this is how a long poll (`GetPlan` with `wait`) learns that
/// nobody is waiting for its answer any more.
///
/// Sits in the HTTP/1 pipeline after the HTTP codec; passes everything on unchanged.
final class ClientInputObserver: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart

    private let inputClosed = Atomic<Bool>(false)

    /// Whether the client has closed its side (or the whole connection).
    var isInputClosed: Bool { inputClosed.load(ordering: .relaxed) }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            inputClosed.store(true, ordering: .relaxed)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        inputClosed.store(true, ordering: .relaxed)
        context.fireChannelInactive()
    }

    /// Whether the client of `channel` is still connected: the channel is active and, on an
    /// HTTP/1 connection with an observer, the client has not closed its side. An HTTP/2
    /// stream's request ends with the client's half-close, so there only the stream's end
    /// (a reset when the client cancels) counts.
    static func isClientConnected(_ channel: any Channel) async -> Bool {
        guard channel.isActive else { return false }
        // An HTTP/2 stream's parent is its connection, whose parent is the listener; an
        // HTTP/1 connection's parent is the listener itself.
        guard channel.parent?.parent == nil else { return true }
        guard let observer = try? await channel.pipeline.handler(type: ClientInputObserver.self).get() else { return true }
        return !observer.isInputClosed
    }
}
