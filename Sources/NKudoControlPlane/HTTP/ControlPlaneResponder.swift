import Foundation
public import HTTPTypes
public import Hummingbird
import Logging
import NIOCore
import NKudoContract
import NKudoSQL

/// Serves the contract in three protocols from one port: REST (an RPC's HTTP bindings),
/// Connect (`/<package>.<Service>/<Method>`, unary POST and GET) and gRPC / gRPC-Web
/// (the same paths, told apart by `Content-Type: application/grpc…`, over HTTP/2 or, for
/// gRPC-Web, HTTP/1.1). Each protocol only frames and encodes; ``invoke`` does the rest
/// for all three: failed-authentication budget, authentication, the service call within
/// the request's deadline, the mapping of errors. No service touches JSON or bytes.
///
/// It is the one place where errors become statuses (``APIError/answering(_:requestID:)``)
/// and where failed authentications are handled: a source past its budget is refused with
/// 429 before its credentials are looked at, and every 401 — from the authenticator, a
/// service or the store (an enrollment token, a renewal, a heartbeat's serial) — is
/// counted and audited through ``AuthFailureGuard``.
public struct ControlPlaneResponder: HTTPResponder {
    public typealias Context = ControlPlaneRequestContext

    /// A non-RPC endpoint (`/readyz`, `/metrics`, `/openapi.json`), given the request's headers.
    public typealias PlainEndpoint = @Sendable (HTTPFields) async -> (status: HTTPResponse.Status, contentType: String, body: [UInt8])

    let router: ContractRouter<CallContext>
    let authenticator: any CallerAuthenticator
    let authFailures: AuthFailureGuard
    let maxBodyBytes: Int
    let readTimeout: Duration
    let limits: WireLimits
    let metrics: HTTPMetrics
    /// The client certificates of the open channels, recorded by the handler it makes.
    let peerCertificates: PeerCertificates
    let logger: Logger
    let plainEndpoints: [String: PlainEndpoint]
    /// gRPC server reflection over the contract's descriptors.
    let reflection: GRPCReflectionService
    /// The web console, serving `/ui`.
    let console: WebConsole?

    /// Creates the responder.
    init(routes: [RPCRoute<CallContext>], authenticator: any CallerAuthenticator, authFailures: AuthFailureGuard, maxBodyBytes: Int,
         readTimeout: Duration, metrics: HTTPMetrics, peerCertificates: PeerCertificates, logger: Logger,
         plainEndpoints: [String: PlainEndpoint], console: WebConsole? = nil) {
        self.peerCertificates = peerCertificates
        self.console = console
        self.readTimeout = readTimeout
        self.router = ContractRouter(routes: routes)
        self.authenticator = authenticator
        self.authFailures = authFailures
        self.maxBodyBytes = maxBodyBytes
        self.limits = WireLimits(maxBytes: maxBodyBytes, maxDepth: 64)
        self.metrics = metrics
        self.logger = logger
        self.plainEndpoints = plainEndpoints
        self.reflection = GRPCReflectionService(descriptors: ContractDescriptors.files.map { Array($0) } + [GRPCHealthDescriptor.file])
    }

    /// Answers `request`, in the task that read it: an HTTP/2 stream's, or the task an
    /// ``HTTP1Connection`` keeps only while it has requests, so the memory of the answer's call
    /// chain (its task-allocator slabs) goes when the connection is idle again.
    public func respond(to request: Request, context: Context) async throws -> Response {
        await handle(request, context: context)
    }

    private func handle(_ request: Request, context: Context) async -> Response {
        let started = ContinuousClock.now
        let requestID = Self.requestID(from: request.headers[.xRequestID])
        var logger = self.logger
        logger[metadataKey: ControlPlaneLogKey.requestID] = .string(requestID)
        let path = String(request.uri.path)
        var routeName = "unmatched"
        var response: Response
        if let console, WebConsole.serves(path) {
            (response, routeName) = await console.respond(to: request, remoteAddress: Self.remoteAddress(context.channel), requestID: requestID,
                                                          logger: logger)
        } else if request.method == .get || request.method == .head, let endpoint = plainEndpoints[path] {
            routeName = "GET \(path)"
            let (status, contentType, body) = await endpoint(request.headers)
            response = Self.response(status: status, contentType: contentType, body: request.method == .head ? [] : body)
        } else if let kind = GRPCKind(contentType: request.headers[.contentType]) {
            (routeName, response) = await serveGRPC(kind, request: request, context: context, requestID: requestID, logger: logger)
        } else {
            switch router.match(method: request.method, path: path) {
            case .found(let endpoint, let parameters):
                routeName = endpoint.name
                logger[metadataKey: ControlPlaneLogKey.route] = .string(routeName)
                if endpoint.binding == nil {
                    response = await serveConnect(endpoint.route, request: request, context: context, requestID: requestID, logger: logger)
                } else {
                    response = await serveREST(endpoint, parameters: parameters, request: request, context: context, requestID: requestID,
                                               logger: logger)
                }
            case .methodNotAllowed(let allowed):
                response = errorResponse(APIError(status: .methodNotAllowed, code: "invalid_argument",
                                                  message: "method \(request.method.rawValue) not allowed on \(path.prefix(200))"),
                                         format: .json, connect: false, requestID: requestID)
                response.headers[.allow] = allowed.map(\.rawValue).joined(separator: ", ")
            case .notFound:
                response = errorResponse(.notFound("no route for \(request.method.rawValue) \(path.prefix(200))"), format: .json,
                                         connect: false, requestID: requestID)
            }
        }
        response.headers[.xRequestID] = requestID
        let duration = ContinuousClock.now - started
        metrics.record(route: routeName, status: response.status.code, duration: duration)
        logger.info("request", metadata: [
            ControlPlaneLogKey.method: .string(request.method.rawValue),
            ControlPlaneLogKey.path: .string(String(path.prefix(200))),
            ControlPlaneLogKey.route: .string(routeName),
            ControlPlaneLogKey.status: .stringConvertible(response.status.code),
            ControlPlaneLogKey.durationMilliseconds: .string(Self.milliseconds(duration)),
        ])
        return response
    }

    /// An RPC at one of its REST bindings: the body (when the binding has one) in the format
    /// of `Content-Type`, path and query parameters, the answer in the format `Accept` asks for.
    private func serveREST(_ endpoint: ContractRouter<CallContext>.Endpoint, parameters: [String: String], request: Request,
                           context: Context, requestID: String, logger: Logger) async -> Response {
        let method = endpoint.route.method
        let hasBody = endpoint.binding?.body == "*"
        let contentType = request.headers[.contentType]
        let format = hasBody ? WireFormat(contentType: contentType ?? "") : .json
        let outcome = await invoke(endpoint.route, request: request, context: context, requestID: requestID, logger: logger) {
            guard format != nil else { throw APIError.unsupportedMediaType(contentType) }
            return nil
        } decode: {
            let bodyFormat = format ?? .json
            var body: [UInt8]?
            if hasBody {
                body = try await readBody(request)
                if body?.isEmpty ?? true, bodyFormat == .json {
                    throw APIError.badRequest("request body is empty; send a JSON object (or {} for no fields)")
                }
            }
            let query = request.uri.queryParameters.map { (String($0.key), String($0.value)) }
            return try RequestMessageBuilder.build(method: method, body: body, format: bodyFormat, pathParameters: parameters,
                                                   query: query, limits: limits)
        }
        switch outcome {
        case .success(let result):
            let responseFormat = WireFormat.preferred(accept: request.headers[.accept], fallback: format ?? .json)
            let bytes: [UInt8]
            do {
                bytes = responseFormat == .json ? try result.jsonBytes() : try result.serializedBytes()
            } catch {
                return errorResponse(failure(error, method: method, caller: nil, requestID: requestID, logger: logger).error,
                                     format: .json, connect: false, requestID: requestID)
            }
            return Self.response(status: HTTPResponse.Status(code: endpoint.binding?.successStatus ?? 200),
                                 contentType: responseFormat.contentType, body: request.method == .head ? [] : bytes)
        case .failure(let failure):
            let responseFormat = failure.answersInJSON
                ? WireFormat.json : WireFormat.preferred(accept: request.headers[.accept], fallback: format ?? .json)
            return errorResponse(failure.error, format: responseFormat, connect: false, requestID: requestID)
        }
    }

    /// The request body, at most `MAX_BODY_BYTES` (413 past it), within `HTTP_READ_TIMEOUT`.
    func readBody(_ request: Request) async throws -> [UInt8] {
        do {
            let buffer = try await Self.collect(request.body, limit: maxBodyBytes, timeout: readTimeout)
            return Array(buffer.readableBytesView)
        } catch is NIOTooManyBytesError {
            throw APIError.payloadTooLarge(maxBodyBytes)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw APIError.payloadTooLarge(maxBodyBytes)
        }
    }

    /// The request body, at most `limit` bytes, within `timeout` (`HTTP_READ_TIMEOUT`): a
    /// client that trickles its body gets 408 instead of holding the request open.
    ///
    /// The body is read by a task of its own, which ``BodyReadDeadlines`` cancels at the
    /// deadline. (A task group with a task sleeping beside the reader cost two child tasks
    /// and a Dispatch timer per request, ~3 % of the control plane at 500 heartbeats/s, and
    /// an event-loop timer per request ~3 % again; README, Performance.)
    static func collect(_ body: RequestBody, limit: Int, timeout: Duration,
                        deadlines: BodyReadDeadlines = .shared) async throws -> ByteBuffer {
        let reading = Task { try await body.collect(upTo: limit) }
        let deadline = deadlines.register(deadline: .now() + TimeAmount(timeout)) { reading.cancel() }
        defer { deadlines.end(deadline) }
        let result = await withTaskCancellationHandler {
            await reading.result
        } onCancel: {
            reading.cancel()
        }
        // Cancelled by the deadline, not by this request's cancellation: a reader may end
        // quietly on cancellation, with the body it had so far.
        if reading.isCancelled && !Task.isCancelled {
            throw APIError(status: .requestTimeout, code: "deadline_exceeded",
                           message: "request body not received within \(timeout) (HTTP_READ_TIMEOUT)")
        }
        return try result.get()
    }

    func errorResponse(_ error: APIError, format: WireFormat, connect: Bool, requestID: String) -> Response {
        var response = errorBody(error, format: format, connect: connect, requestID: requestID)
        if let seconds = error.retryAfter {
            response.headers[.retryAfter] = String(seconds)
        }
        return response
    }

    private func errorBody(_ error: APIError, format: WireFormat, connect: Bool, requestID: String) -> Response {
        if connect {
            let status = error.status == .unsupportedMediaType ? error.status : APIError.connectStatus(for: error.code)
            return Self.response(status: status, contentType: "application/json", body: ConnectError.body(error, requestID: requestID))
        }
        let message = ErrorMessage(error: error.message, code: error.code, requestId: requestID)
        let bytes = (format == .binary ? try? message.serializedBytes() : try? message.jsonBytes()) ?? []
        return Self.response(status: error.status, contentType: format.contentType, body: bytes)
    }

    static func response(status: HTTPResponse.Status, contentType: String, body: [UInt8]) -> Response {
        var headers = HTTPFields()
        if !body.isEmpty { headers[.contentType] = contentType }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// `duration` in milliseconds with two decimals (`"%.2f"`), as the request log writes
    /// it. Foundation's `String(format:)` built an `NSString` for it on every request, ~2 %
    /// of the control plane's CPU per heartbeat (README, Performance).
    static func milliseconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        // Hundredths of a millisecond are 10^13 attoseconds; rounded half up.
        let hundredths = seconds * 100_000 + (attoseconds + 5_000_000_000_000) / 10_000_000_000_000
        let fraction = hundredths % 100
        return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)"
    }

    /// The client's request id when it is sane (1–128 visible ASCII characters), else a new UUID.
    static func requestID(from header: String?) -> String {
        if let header {
            let trimmed = header.trimmingCharacters(in: .whitespaces)
            if !trimmed.isEmpty, trimmed.count <= 128, trimmed.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) {
                return trimmed
            }
        }
        return UUID().uuidString.lowercased()
    }

    static func remoteAddress(_ channel: any Channel) -> String? {
        (channel.remoteAddress ?? channel.parent?.remoteAddress)?.ipAddress
    }
}

extension HTTPField.Name {
    /// `X-Request-ID`.
    static let xRequestID = HTTPField.Name("X-Request-ID")!
}
