public import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOSSL
import NKudoContract
import NKudoSQL

/// An error a service or the HTTP layer answers with: an HTTP status for the REST
/// bindings, a Connect error code for the Connect paths, and a message for the client.
///
/// Anything thrown that is not an `APIError` (or a decode error) is an internal error:
/// the client gets 500 with the request id only; the detail goes to the log.
public struct APIError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Status on the REST bindings.
    public let status: HTTPResponse.Status
    /// Connect error code (`invalid_argument`, `unauthenticated`, …), also the `code` of the error body.
    public let code: String
    /// The message for the client (never secrets or internal detail).
    public let message: String
    /// Seconds the client should wait before retrying (`Retry-After`), when it says so.
    public let retryAfter: Int?

    /// Creates an error.
    public init(status: HTTPResponse.Status, code: String, message: String, retryAfter: Int? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.retryAfter = retryAfter
    }

    public var description: String { "\(status.code) \(code): \(message)" }

    /// 400: the request is malformed or invalid.
    public static func badRequest(_ message: String) -> APIError { APIError(status: .badRequest, code: "invalid_argument", message: message) }
    /// 401: missing or wrong credentials.
    public static func unauthorized(_ message: String) -> APIError { APIError(status: .unauthorized, code: "unauthenticated", message: message) }
    /// 403: authenticated but not allowed.
    public static func forbidden(_ message: String) -> APIError { APIError(status: .forbidden, code: "permission_denied", message: message) }
    /// 404: no such resource (in the caller's tenant).
    public static func notFound(_ message: String) -> APIError { APIError(status: .notFound, code: "not_found", message: message) }
    /// 409: conflicts with the stored state.
    public static func conflict(_ message: String) -> APIError { APIError(status: .conflict, code: "already_exists", message: message) }
    /// 409 `aborted`: the agent does not hold the plan's lease (any more); the fencing
    /// check of "a plan runs on one host at a time" failed.
    public static func leaseLost(_ message: String) -> APIError { APIError(status: .conflict, code: "aborted", message: "lease lost: \(message)") }
    /// 429: too many failed authentications from this source; retry after `retryAfter` seconds.
    public static func tooManyRequests(_ message: String, retryAfter: Int) -> APIError {
        APIError(status: .tooManyRequests, code: "resource_exhausted", message: message, retryAfter: retryAfter)
    }
    /// 413: body larger than the limit.
    public static func payloadTooLarge(_ limit: Int) -> APIError {
        APIError(status: .contentTooLarge, code: "resource_exhausted", message: "request body exceeds \(limit) bytes")
    }
    /// 499 `canceled` (nginx's "client closed request"): the client went away (reset its
    /// HTTP/2 stream, closed the connection) before its request was read. Nobody reads the
    /// answer; it keeps the metrics and the log from counting the client's doing as a 500.
    static let clientClosedRequest = APIError(status: HTTPResponse.Status(code: 499, reasonPhrase: "Client Closed Request"),
                                              code: "canceled", message: "the client closed the request")
    /// 415: a body in a format the route does not speak.
    public static func unsupportedMediaType(_ contentType: String?) -> APIError {
        APIError(status: .unsupportedMediaType, code: "invalid_argument",
                 message: "unsupported content type \(contentType.map { "\"\($0.prefix(64))\"" } ?? "(none)"); use application/json or application/x-protobuf")
    }
    /// 503: a dependency (the database) is unavailable.
    public static func unavailable(_ message: String) -> APIError { APIError(status: .serviceUnavailable, code: "unavailable", message: message) }

    /// The HTTP status of a Connect error code (Connect protocol specification, the
    /// mapping of google.rpc.Code).
    static func connectStatus(for code: String) -> HTTPResponse.Status {
        switch code {
        case "canceled": return HTTPResponse.Status(code: 499)
        case "deadline_exceeded": return .gatewayTimeout
        case "invalid_argument", "out_of_range", "failed_precondition": return .badRequest
        case "not_found": return .notFound
        case "already_exists", "aborted": return .conflict
        case "permission_denied": return .forbidden
        case "resource_exhausted": return .tooManyRequests
        case "unimplemented": return HTTPResponse.Status(code: 501)
        case "unavailable": return .serviceUnavailable
        case "unauthenticated": return .unauthorized
        default: return .internalServerError
        }
    }
}

extension APIError {
    /// The answer to any error a call ended with — the one mapping from errors to HTTP and
    /// Connect statuses: ``APIError`` as it is, an ``AuthenticationFailure`` 401, a decode
    /// error 400, a body whose stream or connection ended under it 499, a client-caused
    /// ``StoreError`` its status with the store's message; a store that is down 503;
    /// anything else 500 naming only the request id.
    ///
    /// - Returns: The error and, for internal errors, the detail to log instead.
    static func answering(_ error: any Error, requestID: String) -> (error: APIError, internalDetail: String?) {
        switch error {
        case let error as APIError:
            // 501 (a protocol feature we do not serve) and 504 (the client's deadline) are the
            // client's doing, not internal errors.
            let clients = ["unimplemented", "deadline_exceeded"].contains(error.code)
            return (error, error.status.code >= 500 && !clients ? error.description : nil)
        case let failure as AuthenticationFailure:
            return (.unauthorized(failure.reason), nil)
        case let error as WireError:
            return (.badRequest("malformed request: \(error.description)"), nil)
        case let error as HTTPParserError:
            // The body's framing (chunk sizes, lengths) broke off while it was read.
            return (.badRequest("malformed HTTP request: \(error)"), nil)
        case is NIOHTTP2Errors.StreamClosed, NIOSSLError.uncleanShutdown, ChannelError.ioOnClosedChannel, ChannelError.eof:
            // The body's stream or connection ended under it: the client went away.
            return (.clientClosedRequest, nil)
        case let error as StoreError:
            switch error.code {
            case .notFound: return (.notFound(error.message), nil)
            case .conflict: return (.conflict(error.message), nil)
            case .forbidden: return (.forbidden(error.message), nil)
            case .invalid: return (.badRequest(error.message), nil)
            case .unauthorized: return (.unauthorized(error.message), nil)
            case .leaseLost: return (.leaseLost(error.message), nil)
            case .unavailable, .schemaBehind: return (.unavailable("database unavailable"), error.description)
            default: return (.internal(requestID: requestID), error.description)
            }
        default:
            return (.internal(requestID: requestID), String(describing: error))
        }
    }

    /// 500: an internal error; the client learns the request id only.
    static func `internal`(requestID: String) -> APIError {
        APIError(status: .internalServerError, code: "internal", message: "internal error (request id \(requestID))")
    }
}
