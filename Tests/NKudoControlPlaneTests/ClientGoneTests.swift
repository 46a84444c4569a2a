import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOSSL
import Testing

@testable import NKudoControlPlane

/// A client that goes away while its request is read is its own doing: 499, never a 500
/// that pages an operator (`scripts/check-clients` checks the same with raw frames).
@Suite("Client gone mid-request")
struct ClientGoneTests {
    @Test("a reset stream or a closed connection under the body is 499 canceled, with nothing to log as internal", arguments: [
        NIOHTTP2Errors.streamClosed(streamID: HTTP2StreamID(1), errorCode: .cancel) as any Error,
        NIOHTTP2Errors.streamClosed(streamID: HTTP2StreamID(3), errorCode: .protocolError),
        NIOSSLError.uncleanShutdown,
        ChannelError.ioOnClosedChannel,
        ChannelError.eof,
    ])
    func clientGone(error: any Error) {
        let (answer, internalDetail) = APIError.answering(error, requestID: "r")
        #expect(answer.status.code == 499)
        #expect(answer.code == "canceled")
        #expect(internalDetail == nil)
    }

    @Test("other failures keep their mapping")
    func others() {
        #expect(APIError.answering(HTTPParserError.invalidChunkSize, requestID: "r").error.status == .badRequest)
        let unknown = APIError.answering(ChannelError.connectPending, requestID: "r")
        #expect(unknown.error.status == .internalServerError)
        #expect(unknown.internalDetail != nil)
    }
}
