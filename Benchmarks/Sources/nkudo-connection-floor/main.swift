// The floor of memory per connection under the control plane: a server that does nothing
// but answer HTTP/1.1 requests (200 and 64 bytes, keep-alive), on the same SwiftNIO and
// swift-nio-ssl as the control plane (TLS 1.3, a client certificate asked for and accepted
// whatever it is, as the control plane does before its per-call checks):
//
//   plain        SwiftNIO's HTTP/1.1 handlers, no TLS
//   tls          the same behind swift-nio-ssl: no Hummingbird, no task, no application
//   hummingbird  Hummingbird's HTTP/1.1 connection (a task per connection on its async
//                channel) behind the same TLS, with one route
//
// `scripts/connection-memory` runs each beside the control plane and measures them with the
// same idle clients (README, "Memory per idle agent connection").
//
//   nkudo-connection-floor plain <port>
//   nkudo-connection-floor tls|hummingbird <certificate.pem> <key.pem> <port>
import Foundation
import Hummingbird
import HummingbirdTLS
import Logging
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
        context.write(wrapOutboundOut(.body(.byteBuffer(answer))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
}

/// The body of every answer.
let answer = ByteBuffer(repeating: UInt8(ascii: "a"), count: 64)

/// Prints `message` on standard error and exits with `status`.
func fail(_ message: String, status: Int32 = 1) -> Never {
    FileHandle.standardError.write(Data("nkudo-connection-floor: \(message)\n".utf8))
    exit(status)
}

func usage() -> Never {
    fail("usage: nkudo-connection-floor plain <port> | tls|hummingbird <certificate.pem> <key.pem> <port>", status: 2)
}

/// The control plane's TLS settings with this certificate and key.
func tlsConfiguration(certificate: String, key: String) throws -> TLSConfiguration {
    var tls = TLSConfiguration.makeServerConfiguration(
        certificateChain: try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) },
        privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
    tls.minimumTLSVersion = .tlsv13
    tls.certificateVerification = .optionalVerification
    return tls
}

/// SwiftNIO's HTTP/1.1 handlers answering with ``FixedAnswer``, behind TLS when given.
func serveWithNIO(tls: TLSConfiguration?, port: Int) throws {
    let sslContext = try tls.map(NIOSSLContext.init(configuration:))
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
    let server = try bootstrap.bind(host: "127.0.0.1", port: port).wait()
    try server.closeFuture.wait()
}

/// Hummingbird's HTTP/1.1 server behind TLS, answering `GET /floor`.
func serveWithHummingbird(tls: TLSConfiguration, port: Int) async throws {
    let router = Router()
    router.get("floor") { _, _ in Response(status: .ok, body: ResponseBody(byteBuffer: answer)) }
    let application = Application(
        router: router,
        server: try .tls(.http1(), configuration: TLSChannelConfiguration(
            tlsConfiguration: tls, customAsyncVerificationCallback: { _ in .certificateVerified })),
        configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: port)),
        logger: Logger(label: "nkudo-connection-floor")
    )
    try await application.runService()
}

let arguments = Array(CommandLine.arguments.dropFirst())
do {
    switch (arguments.first, arguments.count) {
    case ("plain", 2):
        guard let port = Int(arguments[1]) else { usage() }
        try serveWithNIO(tls: nil, port: port)
    case ("tls", 4):
        guard let port = Int(arguments[3]) else { usage() }
        try serveWithNIO(tls: tlsConfiguration(certificate: arguments[1], key: arguments[2]), port: port)
    case ("hummingbird", 4):
        guard let port = Int(arguments[3]) else { usage() }
        try await serveWithHummingbird(tls: tlsConfiguration(certificate: arguments[1], key: arguments[2]), port: port)
    default:
        usage()
    }
} catch {
    fail("\(error)")
}
