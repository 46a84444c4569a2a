import Foundation
public import HTTPTypes
public import Hummingbird
import Logging
import NIOCore
import NKudoContract
import NKudoSQL

/// Serves the contract: matches a request to an RPC (HTTP binding or Connect path),
/// authenticates the caller, decodes the request per `Content-Type`, calls the service,
/// encodes the response per `Accept` (default: the request's format) and maps errors to
/// statuses with an error body. No service touches JSON or bytes.
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
    let logger: Logger
    let plainEndpoints: [String: PlainEndpoint]
    /// The web console, serving `/ui`.
    let console: WebConsole?

    /// Creates the responder.
    init(routes: [RPCRoute<CallContext>], authenticator: any CallerAuthenticator, authFailures: AuthFailureGuard, maxBodyBytes: Int,
         readTimeout: Duration, metrics: HTTPMetrics, logger: Logger, plainEndpoints: [String: PlainEndpoint], console: WebConsole? = nil) {
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
    }

    public func respond(to request: Request, context: Context) async throws -> Response {
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
        } else {
            switch router.match(method: request.method, path: path) {
            case .found(let endpoint, let parameters):
                routeName = endpoint.name
                logger[metadataKey: ControlPlaneLogKey.route] = .string(routeName)
                response = await serve(endpoint, parameters: parameters, request: request, context: context, requestID: requestID, logger: logger)
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
            ControlPlaneLogKey.durationMilliseconds: .string(String(format: "%.2f", duration.timeInterval * 1000)),
        ])
        return response
    }

    private func serve(_ endpoint: ContractRouter<CallContext>.Endpoint, parameters: [String: String], request: Request,
                       context: Context, requestID: String, logger: Logger) async -> Response {
        let method = endpoint.route.method
        let connect = endpoint.binding == nil
        let hasBody = connect || endpoint.binding?.body == "*"
        let remoteAddress = Self.remoteAddress(context.channel)
        var format = WireFormat.json
        var caller: Caller?
        do {
            let contentType = request.headers[.contentType]
            if hasBody {
                guard let contentType, let requestFormat = WireFormat(contentType: contentType) else {
                    throw APIError.unsupportedMediaType(contentType)
                }
                format = requestFormat
            }
            if method.caller != .none, let seconds = authFailures.retryAfter(source: remoteAddress) {
                throw APIError.tooManyRequests("too many failed authentications from this address; retry in \(seconds) s", retryAfter: seconds)
            }
            let authenticated = try await authenticator.authenticate(
                method: method, headers: request.headers, peerCertificate: { await Self.peerCertificate(context.channel) })
            caller = authenticated
            var body: [UInt8]?
            if hasBody {
                do {
                    let buffer = try await Self.collect(request.body, limit: maxBodyBytes, timeout: readTimeout)
                    body = Array(buffer.readableBytesView)
                } catch is NIOTooManyBytesError {
                    throw APIError.payloadTooLarge(maxBodyBytes)
                } catch let error as HTTPError where error.status == .contentTooLarge {
                    throw APIError.payloadTooLarge(maxBodyBytes)
                }
                if body?.isEmpty ?? true, format == .json {
                    throw APIError.badRequest("request body is empty; send a JSON object (or {} for no fields)")
                }
            }
            let query = request.uri.queryParameters.map { (String($0.key), String($0.value)) }
            let message = try RequestMessageBuilder.build(method: method, body: body, format: format, pathParameters: parameters,
                                                          query: query, limits: limits)
            let channel = context.channel
            let call = CallContext(caller: authenticated, requestID: requestID, logger: logger, remoteAddress: remoteAddress,
                                   isClientConnected: { await ClientInputObserver.isClientConnected(channel) })
            let result = try await endpoint.route.handle(message, call)
            let responseFormat = WireFormat.preferred(accept: request.headers[.accept], fallback: format)
            let bytes = responseFormat == .json ? try result.jsonBytes() : try result.serializedBytes()
            let status = connect ? HTTPResponse.Status.ok : HTTPResponse.Status(code: endpoint.binding?.successStatus ?? 200)
            return Self.response(status: status, contentType: connect ? responseFormat.connectContentType : responseFormat.contentType,
                                 body: request.method == .head ? [] : bytes)
        } catch {
            let (answer, internalDetail) = APIError.answering(error, requestID: requestID)
            if let internalDetail {
                logger.error("request failed", metadata: [ControlPlaneLogKey.error: .string(internalDetail)])
            } else if let detail = (error as? StoreError)?.underlying {
                logger.info("request refused", metadata: [ControlPlaneLogKey.error: .string(answer.message), ControlPlaneLogKey.detail: .string(detail)])
            }
            if answer.status == .unauthorized {
                await authFailures.fail(reason: answer.message, rpc: method.fullName, requestID: requestID, source: remoteAddress,
                                        tenantID: (error as? AuthenticationFailure)?.tenantID ?? caller?.tenantID)
            }
            let responseFormat = error is WireError || internalDetail != nil
                ? WireFormat.json : WireFormat.preferred(accept: request.headers[.accept], fallback: format)
            return errorResponse(answer, format: responseFormat, connect: connect, requestID: requestID)
        }
    }

    /// The request body, at most `limit` bytes, within `timeout` (`HTTP_READ_TIMEOUT`): a
    /// client that trickles its body gets 408 instead of holding the request open.
    static func collect(_ body: RequestBody, limit: Int, timeout: Duration) async throws -> ByteBuffer {
        try await withThrowingTaskGroup(of: ByteBuffer?.self) { group in
            group.addTask { try await body.collect(upTo: limit) }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            guard let buffer = try await group.next() ?? nil else {
                throw APIError(status: .requestTimeout, code: "deadline_exceeded",
                               message: "request body not received within \(timeout) (HTTP_READ_TIMEOUT)")
            }
            return buffer
        }
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
            var body = Data()
            if let encoded = try? JSONSerialization.data(withJSONObject: ["code": error.code, "message": error.message], options: [.sortedKeys]) {
                body = encoded
            }
            let status = error.status == .unsupportedMediaType ? error.status : APIError.connectStatus(for: error.code)
            return Self.response(status: status, contentType: "application/json", body: Array(body))
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

    static func peerCertificate(_ channel: any Channel) async -> [UInt8]? {
        guard let certificate = try? await channel.nioSSLPeerCertificateDER() else { return nil }
        return certificate
    }

    static func remoteAddress(_ channel: any Channel) -> String? {
        channel.remoteAddress?.ipAddress
    }
}

extension HTTPField.Name {
    /// `X-Request-ID`.
    static let xRequestID = HTTPField.Name("X-Request-ID")!
}
