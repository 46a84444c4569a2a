@testable import NKudoControlPlane
import NIOCore
import NIOEmbedded
import NIOHTTP2
import Testing

/// The PINGs an HTTP/2 connection forgives before Hummingbird's manager polices them, with
/// a virtual clock.
@Suite("HTTP/2 PING allowance")
struct HTTP2PingAllowanceTests {
    /// Sends a PING (ack or not) and tells whether it reached the handler after.
    static func passes(_ channel: EmbeddedChannel, ack: Bool = false) throws -> Bool {
        try channel.writeInbound(HTTP2Frame(streamID: .rootStream, payload: .ping(HTTP2PingData(withInteger: 7), ack: ack)))
        return try channel.readInbound(as: HTTP2Frame.self) != nil
    }

    static func streamEvent(_ channel: EmbeddedChannel, closed: Bool) {
        let id = HTTP2StreamID(1)
        if closed {
            channel.pipeline.fireUserInboundEventTriggered(StreamClosedEvent(streamID: id, reason: nil))
        } else {
            channel.pipeline.fireUserInboundEventTriggered(NIOHTTP2StreamCreatedEvent(streamID: id, localInitialWindowSize: nil,
                                                                                      remoteInitialWindowSize: nil))
        }
    }

    @Test("a PING after stream activity, or spaced by the interval, is kept from the manager; a burst reaches it")
    func allowance() throws {
        let loop = EmbeddedEventLoop()
        let channel = EmbeddedChannel(handler: HTTP2PingAllowance(), loop: loop)
        #expect(try !Self.passes(channel), "the first PING is allowed")
        #expect(try Self.passes(channel), "a second one at once goes to the manager")
        Self.streamEvent(channel, closed: false)
        #expect(try !Self.passes(channel), "a stream opened since")
        Self.streamEvent(channel, closed: true)
        #expect(try !Self.passes(channel), "a stream closed since")
        #expect(try Self.passes(channel))
        loop.advanceTime(by: HTTP2PingAllowance.interval - .milliseconds(1))
        #expect(try Self.passes(channel), "sooner than the interval")
        loop.advanceTime(by: .milliseconds(1))
        #expect(try !Self.passes(channel), "spaced by the interval")
        for _ in 0..<5 { #expect(try Self.passes(channel), "a burst without streams") }
        #expect(try Self.passes(channel, ack: true), "acknowledgements always pass")
        let data = HTTP2Frame(streamID: .rootStream, payload: .settings(.ack))
        try channel.writeInbound(data)
        #expect(try channel.readInbound(as: HTTP2Frame.self) != nil, "other frames pass")
        _ = try channel.finish()
    }
}
