// The floor of memory per connection under the control plane: a server that does nothing
// but answer HTTP/1.1 requests, on the same SwiftNIO and swift-nio-ssl as the control plane
// (TLS 1.3, a client certificate asked for and accepted whatever it is, as the control
// plane does before its per-call checks), with no Hummingbird, no task per connection and
// no application. `scripts/connection-memory` runs it beside the control plane and
// measures both with the same idle clients (README, "Memory per idle agent connection").
//
//   nkudo-connection-floor tls <certificate.pem> <key.pem> <port>
//   nkudo-connection-floor plain <port>
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// Answers every request with 200 and 64 bytes, keeping the connection open.
final class FixedAnswer: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .end = unwrapInboundIn(data) else { return }
        var head = HTTPResponseHead(version: .http1_1, status: .ok)
        head.headers.add(name: "content-length", value: "64")
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(repeating: UInt8(ascii: "a"), count: 64)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
}

/// Prints `message` on standard error and exits with `status`.
func fail(_ message: String, status: Int32 = 1) -> Never {
    FileHandle.standardError.write(Data("nkudo-connection-floor: \(message)\n".utf8))
    exit(status)
}

func usage() -> Never {
    fail("usage: nkudo-connection-floor tls <certificate.pem> <key.pem> <port> | plain <port>", status: 2)
}

let arguments = CommandLine.arguments.dropFirst()
let sslContext: NIOSSLContext?
let port: Int
switch arguments.first {
case "tls" where arguments.count == 4:
    let values = Array(arguments)
    do {
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(values[1]).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: values[2], format: .pem)))
        tls.minimumTLSVersion = .tlsv13
        tls.certificateVerification = .optionalVerification
        sslContext = try NIOSSLContext(configuration: tls)
    } catch {
        fail("\(error)")
    }
    guard let value = Int(values[3]) else { usage() }
    port = value
case "plain" where arguments.count == 2:
    guard let value = Int(arguments.last!) else { usage() }
    sslContext = nil
    port = value
default:
    usage()
}

let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
    .serverChannelOption(.backlog, value: 4096)
    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
            if let sslContext {
                try channel.pipeline.syncOperations.addHandler(
                    NIOSSLServerHandler(context: sslContext, customVerificationCallback: { _, verified in verified.succeed(.certificateVerified) },
                                        configuration: .init()))
            }
            try channel.pipeline.syncOperations.configureHTTPServerPipeline()
            try channel.pipeline.syncOperations.addHandler(FixedAnswer())
        }
    }
do {
    let server = try bootstrap.bind(host: "127.0.0.1", port: port).wait()
    try server.closeFuture.wait()
} catch {
    fail("\(error)")
}
