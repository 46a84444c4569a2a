import HTTPTypes
@testable import NKudoControlPlane
import NIOCore
import NIOEmbedded
import NIOHTTPTypes
import Testing

/// `HTTP_WRITE_TIMEOUT`, on the handler the HTTP/1 pipeline carries, with a virtual clock.
@Suite("HTTP_WRITE_TIMEOUT")
struct ResponseWriteTimeoutTests {
    static func activeChannel() throws -> (EmbeddedChannel, EmbeddedEventLoop) {
        let loop = EmbeddedEventLoop()
        let channel = EmbeddedChannel(handler: ResponseWriteTimeoutHandler(timeout: .seconds(5)), loop: loop)
        try channel.connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: 9)).wait()
        return (channel, loop)
    }

    @Test("a response written to the socket in time keeps the connection, also long after")
    func writtenInTime() throws {
        let (channel, loop) = try Self.activeChannel()
        for _ in 0..<3 {
            try channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .ok)))
            try channel.writeOutbound(HTTPResponsePart.body(ByteBuffer(string: "{}")))
            try channel.writeOutbound(HTTPResponsePart.end(nil))
            loop.advanceTime(by: .seconds(4))
        }
        loop.advanceTime(by: .seconds(60))
        #expect(channel.isActive)
        _ = try channel.finish()
    }

    @Test("a streamed response quiet between its messages keeps the connection; the clock runs only while a write waits")
    func quietStream() throws {
        let (channel, loop) = try Self.activeChannel()
        try channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .ok)))
        for _ in 0..<4 {
            loop.advanceTime(by: .seconds(20))
            #expect(channel.isActive)
            try channel.writeOutbound(HTTPResponsePart.body(ByteBuffer(string: "message")))
        }
        channel.write(HTTPResponsePart.body(ByteBuffer(string: "stalled")), promise: nil)
        loop.advanceTime(by: .seconds(4))
        #expect(channel.isActive, "not before the timeout")
        loop.advanceTime(by: .seconds(2))
        #expect(!channel.isActive)
    }

    /// Keeps every write's promise, as a socket would until the client reads, so that a
    /// test can let writes through one by one.
    final class HeldWrites: ChannelOutboundHandler {
        typealias OutboundIn = HTTPResponsePart
        var promises: [EventLoopPromise<Void>?] = []

        func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
            promises.append(promise)
        }
    }

    @Test("a write that gets through starts the clock again for the writes still waiting")
    func progress() throws {
        let loop = EmbeddedEventLoop()
        let held = HeldWrites()
        let channel = EmbeddedChannel(handlers: [held, ResponseWriteTimeoutHandler(timeout: .seconds(5))], loop: loop)
        try channel.connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: 9)).wait()
        channel.write(HTTPResponsePart.head(HTTPResponse(status: .ok)), promise: nil)
        channel.write(HTTPResponsePart.end(nil), promise: nil)
        loop.advanceTime(by: .seconds(4))
        held.promises[0]?.succeed()
        loop.advanceTime(by: .seconds(4))
        // Booleans, not the channel: describing an EmbeddedChannel with these handlers traps in NIO's pipeline description.
        let activeAfterProgress = channel.isActive
        #expect(activeAfterProgress, "4 s since a write got through, though the other has waited 8 s")
        loop.advanceTime(by: .seconds(2))
        let activeAfterStall = channel.isActive
        #expect(!activeAfterStall, "the write still waiting had no progress for 5 s")
        for promise in held.promises.dropFirst() { promise?.fail(ChannelError.ioOnClosedChannel) }
        _ = try? channel.finish()
    }

    @Test("a response the client does not take within the timeout closes the connection")
    func stalledResponse() throws {
        let (channel, loop) = try Self.activeChannel()
        channel.write(HTTPResponsePart.head(HTTPResponse(status: .ok)), promise: nil)
        channel.write(HTTPResponsePart.end(nil), promise: nil)
        loop.advanceTime(by: .seconds(4))
        #expect(channel.isActive, "not before the timeout")
        loop.advanceTime(by: .seconds(2))
        #expect(!channel.isActive)
    }
}
