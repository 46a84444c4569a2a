import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NKudoContract
import NKudoGzip
import NKudoWire

/// The gRPC flavour a request's `Content-Type` names.
struct GRPCKind: Sendable {
    /// gRPC-Web: trailers travel in the body; HTTP/1.1 is fine.
    let web: Bool
    /// gRPC-Web's text mode (`application/grpc-web-text`): bodies in base64
    /// (``GRPCWebText``).
    let text: Bool
    /// The message codec: `proto` (default) or `json`; nil for a codec we do not speak.
    let format: WireFormat?
    /// The content type of the response.
    var responseContentType: String {
        (web ? (text ? "application/grpc-web-text" : "application/grpc-web") : "application/grpc") + (format == .json ? "+json" : "+proto")
    }

    /// The kind of `application/grpc[+codec]`, `application/grpc-web[+codec]` or
    /// `application/grpc-web-text[+codec]`; nil for other content types (REST and Connect).
    ///
    /// Read byte by byte in place, like ``WireFormat/init(contentType:)``: every request
    /// passes here, and splitting, trimming and lowercasing the header as `String`s cost
    /// every heartbeat (README, Performance).
    init?(contentType: String?) {
        guard let contentType else { return nil }
        var subtype = contentType.utf8[...].mediaType
        guard subtype.hasPrefix(caseInsensitive: Self.grpc) else { return nil }
        subtype.removeFirst(Self.grpc.count)
        web = subtype.hasPrefix(caseInsensitive: Self.web)
        if web { subtype.removeFirst(Self.web.count) }
        text = web && subtype.hasPrefix(caseInsensitive: Self.text)
        if text { subtype.removeFirst(Self.text.count) }
        if subtype.isEmpty || subtype.equals(caseInsensitive: Self.proto) {
            format = .binary
        } else if subtype.equals(caseInsensitive: Self.json) {
            format = .json
        } else {
            // Codecs we do not have.
            guard subtype.first == UInt8(ascii: "+") || subtype.first == UInt8(ascii: "-") else { return nil }
            format = nil
        }
    }

    private static let grpc = Array("application/grpc".utf8)
    private static let web = Array("-web".utf8)
    private static let text = Array("-text".utf8)
    private static let proto = Array("+proto".utf8)
    private static let json = Array("+json".utf8)
}

extension ControlPlaneResponder {
    /// An RPC over gRPC (HTTP/2) or gRPC-Web: at the Connect path of the method
    /// (`/<package>.<Service>/<Method>`), one length-prefixed message in (gzip when
    /// `grpc-encoding` says so), one out, the status in the `grpc-status` / `grpc-message`
    /// trailers (gRPC-Web: a trailers frame in the body) with the Connect paths' codes;
    /// `grpc-timeout` honoured. The standard health and reflection services are served beside.
    func serveGRPC(_ kind: GRPCKind, request: Request, context: Context, requestID: String,
                   logger: Logger) async -> (route: String, response: Response) {
        let path = String(request.uri.path)
        let reflection = GRPCReflectionService.serviceNames.first { path == "/\($0)/\(GRPCReflectionService.methodName)" }
        let endpoint: ContractRouter<CallContext>.Endpoint?
        if case .found(let found, _) = router.match(method: .post, path: path), found.binding == nil {
            endpoint = found
        } else {
            endpoint = nil
        }
        // The metrics' route label: a method we serve, by protocol (`gRPC <path>` beside
        // Connect's `POST <path>`), never a path the client made up (each distinct label is a
        // series the registry keeps for good).
        let routeName = reflection != nil || endpoint != nil ? "gRPC \(path)" : "gRPC unmatched"
        guard let format = kind.format else {
            let named = request.headers[.contentType].map { "\"\($0.prefix(64))\"" } ?? "(none)"
            let error = APIError(status: .unsupportedMediaType, code: "invalid_argument",
                                 message: "unsupported gRPC codec in content type \(named); use +proto or +json")
            return (routeName, grpcResponse(kind, message: nil, error: error, status: .unsupportedMediaType))
        }
        guard request.method == .post else {
            let error = APIError(status: .methodNotAllowed, code: "unimplemented", message: "gRPC calls are POST requests")
            var response = grpcResponse(kind, message: nil, error: error, status: .methodNotAllowed)
            response.headers[.allow] = "POST"
            return (routeName, response)
        }
        if reflection != nil {
            return (routeName, serveReflection(kind, format: format, request: request))
        }
        guard let endpoint else {
            return (routeName, grpcResponse(kind, message: nil, error: .unimplemented("unknown method \(path.prefix(200))")))
        }
        let route = endpoint.route
        let encoding = request.headers[.grpcEncoding]?.trimmingCharacters(in: .whitespaces).lowercased()
        let outcome = await invoke(route, request: request, context: context, requestID: requestID, logger: logger) {
            if let encoding, encoding != "identity", encoding != "gzip" {
                throw APIError.unimplemented("unsupported grpc-encoding \"\(encoding.prefix(32))\"; use gzip or identity")
            }
            guard let timeout = request.headers[.grpcTimeout] else { return nil }
            guard let duration = RPCTimeout.grpc(timeout) else {
                throw APIError.badRequest("grpc-timeout must be 1 to 8 digits and a unit (H, M, S, m, u, n), not \"\(timeout.prefix(32))\"")
            }
            return ContinuousClock.now + duration
        } decode: {
            let payload = try await readMessage(request, encoding: encoding, text: kind.text)
            return try RequestMessageBuilder.build(method: route.method, body: payload, format: format, pathParameters: [:], query: [],
                                                   limits: limits)
        }
        switch outcome {
        case .success(let result):
            do {
                let bytes = format == .json ? try result.jsonBytes() : try result.serializedBytes()
                return (routeName, grpcResponse(kind, message: bytes, error: nil))
            } catch {
                let failure = failure(error, method: route.method, caller: nil, requestID: requestID, logger: logger)
                return (routeName, grpcResponse(kind, message: nil, error: failure.error))
            }
        case .failure(let failure):
            return (routeName, grpcResponse(kind, message: nil, error: failure.error))
        }
    }

    /// The one message of a unary call's body (base64 in gRPC-Web's text mode),
    /// decompressed.
    func readMessage(_ request: Request, encoding: String?, text: Bool) async throws -> [UInt8] {
        var body: [UInt8]
        do {
            // Base64 chunks padded one by one can take up to 4 characters per byte.
            let limit = text ? (maxBodyBytes + 5) * 4 : maxBodyBytes + 5
            let buffer = try await Self.collect(request.body, limit: limit, timeout: readTimeout)
            body = Array(buffer.readableBytesView)
        } catch is NIOTooManyBytesError {
            throw APIError.payloadTooLarge(maxBodyBytes)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw APIError.payloadTooLarge(maxBodyBytes)
        }
        if text {
            do {
                body = try GRPCWebText.decode(body)
            } catch {
                throw Self.apiError(error)
            }
        }
        let frames: [GRPCFraming.Frame]
        do {
            frames = try GRPCFraming.frames(body, limit: maxBodyBytes)
        } catch {
            throw Self.apiError(error)
        }
        guard frames.count == 1, let frame = frames.first, frame.flags & GRPCFraming.trailersFlag == 0 else {
            throw APIError.badRequest(frames.isEmpty ? "a unary call needs one request message; the body has none"
                                                     : "a unary call takes one request message; the body has \(frames.count) frames")
        }
        return try payload(of: frame, encoding: encoding)
    }

    /// A frame's message, decompressed when its flag says so.
    func payload(of frame: GRPCFraming.Frame, encoding: String?) throws -> [UInt8] {
        guard frame.isCompressed else { return frame.payload }
        guard let encoding, encoding != "identity" else {
            throw APIError(status: .badRequest, code: "internal", message: "protocol error: compressed message without grpc-encoding")
        }
        return try decompress(frame.payload, encoding: encoding)
    }

    /// A framing error as the client sees it.
    static func apiError(_ failure: GRPCFraming.Failure) -> APIError {
        switch failure {
        case .truncated:
            return .badRequest("malformed gRPC body: it ends inside a frame")
        case .tooLarge(let declared, let limit):
            return APIError(status: .contentTooLarge, code: "resource_exhausted", message: "request message of \(declared) bytes exceeds \(limit) bytes")
        case .unknownFlags(let flags):
            return .badRequest("malformed gRPC body: unknown frame flags 0x\(String(flags, radix: 16))")
        }
    }

    /// A gRPC-Web text body that is not base64, as the client sees it.
    static func apiError(_ failure: GRPCWebText.Failure) -> APIError {
        switch failure {
        case .invalidCharacter(let offset):
            return .badRequest("malformed gRPC-Web text body: byte \(offset) is not base64")
        case .truncated:
            return .badRequest("malformed gRPC-Web text body: its length is not a multiple of 4")
        }
    }

    /// A unary gRPC response: the message (when the call succeeded), then the status as
    /// trailers (gRPC) or as a trailers frame (gRPC-Web).
    func grpcResponse(_ kind: GRPCKind, message: [UInt8]?, error: APIError?, status: HTTPResponse.Status = .ok) -> Response {
        let trailers = Self.grpcTrailers(error)
        var headers = HTTPFields()
        headers[.contentType] = kind.responseContentType
        headers[.grpcAcceptEncoding] = "gzip,identity"
        if let seconds = error?.retryAfter { headers[.retryAfter] = String(seconds) }
        let web = kind.web
        let text = kind.text
        return Response(status: status, headers: headers, body: ResponseBody { writer in
            if let message { try await writer.write(Self.chunk(GRPCFraming.frame(message), text: text)) }
            if web {
                try await writer.write(Self.chunk(Self.webTrailersFrame(trailers), text: text))
                try await writer.finish(nil)
            } else {
                try await writer.finish(trailers)
            }
        })
    }

    /// `grpc-status` (0 for success) and `grpc-message`.
    static func grpcTrailers(_ error: APIError?) -> HTTPFields {
        var trailers = HTTPFields()
        trailers[.grpcStatus] = String(error.map { RPCStatusCodes.grpcStatus($0.code) } ?? 0)
        if let error { trailers[.grpcMessage] = RPCStatusCodes.percentEncoded(error.message) }
        return trailers
    }

    /// One chunk of a response body: framed bytes, in base64 in gRPC-Web's text mode (each
    /// chunk padded on its own, as the protocol allows).
    static func chunk(_ framed: [UInt8], text: Bool) -> ByteBuffer {
        ByteBuffer(bytes: text ? GRPCWebText.encode(framed) : framed)
    }

    /// gRPC-Web's trailers frame: the trailers as HTTP/1 header lines, flag 0x80.
    static func webTrailersFrame(_ trailers: HTTPFields) -> [UInt8] {
        let text = trailers.map { "\($0.name.canonicalName): \($0.value)\r\n" }.joined()
        return GRPCFraming.frame(Array(text.utf8), flags: GRPCFraming.trailersFlag)
    }

    /// `ServerReflectionInfo`: a bidirectional stream; each request message is answered
    /// as it arrives. No credentials: the contract is public (as `/openapi.json` is).
    func serveReflection(_ kind: GRPCKind, format: WireFormat, request: Request) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = kind.responseContentType
        headers[.grpcAcceptEncoding] = "gzip,identity"
        let reflection = self.reflection
        let limit = maxBodyBytes
        let limits = self.limits
        let encoding = request.headers[.grpcEncoding]?.trimmingCharacters(in: .whitespaces).lowercased()
        let web = kind.web
        let text = kind.text
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            var reader = GRPCFrameReader(request.body, limit: limit, text: text)
            var status: APIError?
            var sent: Set<String> = []
            do {
                while let frame = try await reader.next() {
                    let payload = try self.payload(of: frame, encoding: encoding)
                    let question = format == .json ? try ServerReflectionRequest(jsonBytes: payload, limits: limits)
                                                   : try ServerReflectionRequest(serializedBytes: payload, limits: limits)
                    let answer = reflection.answer(question, sent: &sent)
                    let bytes = format == .json ? try answer.jsonBytes() : try answer.serializedBytes()
                    try await writer.write(Self.chunk(GRPCFraming.frame(bytes), text: text))
                }
            } catch let failure as GRPCFraming.Failure {
                status = Self.apiError(failure)
            } catch let failure as GRPCWebText.Failure {
                status = Self.apiError(failure)
            } catch let failure as APIError {
                status = failure
            } catch let failure as WireError {
                status = .badRequest("malformed request: \(failure.description)")
            } catch {
                status = .badRequest("request stream failed")
            }
            let trailers = Self.grpcTrailers(status)
            if web {
                try await writer.write(Self.chunk(Self.webTrailersFrame(trailers), text: text))
                try await writer.finish(nil)
            } else {
                try await writer.finish(trailers)
            }
        })
    }
}

extension HTTPField.Name {
    /// `grpc-status`.
    static let grpcStatus = HTTPField.Name("grpc-status")!
    /// `grpc-message`.
    static let grpcMessage = HTTPField.Name("grpc-message")!
    /// `grpc-timeout`.
    static let grpcTimeout = HTTPField.Name("grpc-timeout")!
    /// `grpc-encoding`.
    static let grpcEncoding = HTTPField.Name("grpc-encoding")!
    /// `grpc-accept-encoding`.
    static let grpcAcceptEncoding = HTTPField.Name("grpc-accept-encoding")!
}
