import NIOCore
import NIOHTTP1

/// One HTTP/1.1 connection of the API: collects a request, asks ``FakeVMM``, answers.
final class APIHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let vmm: FakeVMM
    private var head: HTTPRequestHead?
    private var body = ""

    init(vmm: FakeVMM) {
        self.vmm = vmm
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body = ""
        case .body(let buffer):
            body += String(buffer: buffer)
        case .end:
            guard let head else {
                return
            }
            self.head = nil
            respond(context: context, head: head)
        }
    }

    private func respond(context: ChannelHandlerContext, head: HTTPRequestHead) {
        let path = String(head.uri.split(separator: "?", maxSplits: 1).first ?? "")
        let request = ExchangeCapture.Message(contentType: head.headers.first(name: "Content-Type"), body: body)
        let status: HTTPResponseStatus
        let text: String?
        let exitAfter: Bool
        switch vmm.handle(method: head.method, path: path, body: body) {
        case .hang:
            vmm.capture?.append(method: head.method.rawValue, path: path, request: request, status: nil, response: nil)
            return
        case .status(let code, let body):
            status = code
            text = body
            exitAfter = false
        case .exitAfterReply:
            status = .noContent
            text = nil
            exitAfter = true
        }
        let contentType = text.map { _ in status == .ok ? "application/json" : "text/plain" }
        vmm.capture?.append(method: head.method.rawValue, path: path, request: request, status: Int(status.code),
                            response: ExchangeCapture.Message(contentType: contentType, body: text ?? ""))
        var headers = HTTPHeaders()
        headers.add(name: "Content-Length", value: "\(text?.utf8.count ?? 0)")
        if let contentType {
            headers.add(name: "Content-Type", value: contentType)
        }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        if let text {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: text)))), promise: nil)
        }
        let vmm = vmm
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            if exitAfter {
                vmm.exitVMM()
            }
        }
    }
}
