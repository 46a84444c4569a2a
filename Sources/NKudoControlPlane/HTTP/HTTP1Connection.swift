import HTTPTypes
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1

/// One HTTP/1.1 connection, answered by a task only while it has a request in hand.
///
/// Hummingbird's `HTTP1Channel` keeps a task per connection waiting for the next request, and
/// a task keeps the memory of its deepest call chain (its task-allocator slabs) until it ends,
/// so every idle kept-alive agent connection held them (README, "Memory per idle agent
/// connection"). The pipeline here is `HTTP1Channel`'s: NIO's HTTP/1.1 codec, the additional
/// handlers, Hummingbird's `HTTPConnectionStateHandler` (idle timeout, graceful shutdown) and
/// an async channel. In front of the async channel, ``HTTP1RequestStarter`` starts a task when
/// a request arrives and none is answering; the task answers requests as `HTTP1Channel` does,
/// one after the other (pipelined ones too), and ends when no other has arrived.
final class HTTP1Connection: @unchecked Sendable {
    // @unchecked: `parts` is read by one task at a time. The starter starts a task only after
    // the previous one has said, on the event loop, that it ends; a request's body is read by
    // the tasks its responder awaits.
    private var parts: NIOAsyncChannelInboundStream<HTTPRequestPart>.AsyncIterator
    private var bodyEnded = true
    private var inputEnded = false
    private let outbound: NIOAsyncChannelOutboundWriter<HTTPResponsePart>
    private let channel: any Channel
    private let starter: NIOLoopBound<HTTP1RequestStarter>
    private let responder: HTTPChannelHandler.Responder
    private let logger: Logger

    private init(_ asyncChannel: NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>, starter: HTTP1RequestStarter,
                 responder: @escaping HTTPChannelHandler.Responder, logger: Logger) {
        let halves: some AsyncChannelHalves<HTTPRequestPart, HTTPResponsePart> = asyncChannel
        parts = halves.inbound.makeAsyncIterator()
        outbound = halves.outbound
        channel = asyncChannel.channel
        self.starter = NIOLoopBound(starter, eventLoop: asyncChannel.channel.eventLoop)
        self.responder = responder
        self.logger = logger
    }

    /// Builds the pipeline of an HTTP/1.1 connection on `channel` (on its event loop), as
    /// Hummingbird's `HTTP1Channel` with `configuration` does, answering with `responder`.
    /// The connection is one of `connections` until it closes.
    static func setup(channel: any Channel, configuration: HTTP1Channel.Configuration, responder: @escaping HTTPChannelHandler.Responder,
                      connections: HTTP1Connections, logger: Logger) throws {
        var limits = NIOHTTPDecoderLimitConfiguration()
        limits.maxHeaderFieldSize = configuration.httpDecoder.maxHeaderFieldSize
        limits.maxHeaderListSize = configuration.httpDecoder.maxHeaderListSize
        limits.maxHeaderFieldCount = configuration.httpDecoder.maxHeaderFieldCount
        let operations = channel.pipeline.syncOperations
        try operations.configureHTTPServerPipeline(withPipeliningAssistance: false, withErrorHandling: false,
                                                   withOutboundHeaderValidation: false, withEncoderConfiguration: .init(),
                                                   withDecoderLimitConfiguration: limits)
        try operations.addHandler(HTTP1ToHTTPServerCodec(secure: false))
        try operations.addHandlers(configuration.additionalChannelHandlers())
        try operations.addHandler(HTTPConnectionStateHandler(idleTimeout: configuration.idleTimeout.map { .init($0) }, logger: logger))
        let starter = HTTP1RequestStarter(connections: connections)
        try operations.addHandler(starter)
        let asyncChannel = try NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>(
            wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
        let connection = HTTP1Connection(asyncChannel, starter: starter, responder: responder, logger: logger)
        starter.connection = connection
        connections.insert(connection)
    }

    /// Answers requests while they keep arriving: Hummingbird's `handleHTTP`, except that it
    /// ends when no request is left instead of waiting for the next, and leaves the connection open.
    func answer() async {
        do {
            while let part = try await parts.next() {
                guard case .head(let head) = part else { throw HTTP1ConnectionError.unexpectedPart }
                bodyEnded = false
                let request = Request(head: head, body: RequestBody(asyncSequence: HTTP1RequestBody(connection: self)))
                try await responder(request, ResponseWriter(outbound: outbound), channel)
                if request.headers[.connection] == "close" { break }
                // What the responder left of the body, up to the request's end.
                while try await nextBodyPart() != nil {}
                if inputEnded { break }
                guard try await requestAnswered() else { return }
            }
        } catch is HTTPParserError {
            logger.debug("HTTP parse error, closing connection")
            do {
                try await outbound.write(.head(HTTPResponse(status: .badRequest, headerFields: [.connection: "close", .contentLength: "0"])))
                try await outbound.write(.end(nil))
            } catch {
                logger.trace("could not answer a malformed request", metadata: ["error": "\(error)"])
            }
        } catch {
            logger.trace("failed to read or write the connection", metadata: ["error": "\(error)"])
            channel.close(promise: nil)
            return
        }
        outbound.finish()
        try? await channel.closeFuture.get()
    }

    /// Tells the starter that a request is answered, on the event loop (without a hop when the
    /// task runs on it, as it does with ``ControlPlane/runTasksOnEventLoops()``): whether
    /// another has arrived.
    private func requestAnswered() async throws -> Bool {
        let eventLoop = channel.eventLoop
        if eventLoop.inEventLoop {
            return starter.value.answered()
        }
        return try await eventLoop.submit { self.starter.value.answered() }.get()
    }

    /// Closes the connection (the server stopped).
    func close() {
        channel.close(promise: nil)
    }

    /// The next part of the current request's body: nil at its end, or when the connection
    /// ended before it.
    fileprivate func nextBodyPart() async throws -> ByteBuffer? {
        guard !bodyEnded else { return nil }
        switch try await parts.next() {
        case .body(let buffer): return buffer
        case .end: bodyEnded = true; return nil
        case nil: bodyEnded = true; inputEnded = true; return nil
        case .head: throw HTTP1ConnectionError.unexpectedPart
        }
    }
}

/// An async channel's inbound stream and outbound writer, outside `executeThenClose`.
///
/// NIO deprecated `NIOAsyncChannel`'s `inbound` and `outbound` in favour of the scoped
/// `executeThenClose`, which closes the channel when its closure returns: an
/// ``HTTP1Connection`` outlives each task that answers it, and closes on the client's close or
/// the idle timeout, with its pipeline (which releases the stream and the writer).
protocol AsyncChannelHalves<Inbound, Outbound> {
    associatedtype Inbound: Sendable
    associatedtype Outbound: Sendable
    var inbound: NIOAsyncChannelInboundStream<Inbound> { get }
    var outbound: NIOAsyncChannelOutboundWriter<Outbound> { get }
}

extension NIOAsyncChannel: AsyncChannelHalves {}

/// What an ``HTTP1Connection`` cannot answer: a request part out of order (a body before its
/// head, a head inside a body). The connection is closed.
enum HTTP1ConnectionError: Error {
    case unexpectedPart
}

/// The body of the request an ``HTTP1Connection`` is answering, read from the connection's parts.
struct HTTP1RequestBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    fileprivate let connection: HTTP1Connection

    struct AsyncIterator: AsyncIteratorProtocol {
        fileprivate let connection: HTTP1Connection

        mutating func next() async throws -> ByteBuffer? {
            try await connection.nextBodyPart()
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(connection: connection)
    }
}
