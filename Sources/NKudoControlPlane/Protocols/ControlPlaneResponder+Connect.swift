import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NKudoContract
import NKudoGzip

extension ControlPlaneResponder {
    /// Responses at least this large are gzip-compressed when the client accepts gzip.
    static let compressionThreshold = 1024

    /// An RPC at its Connect path, in the Connect unary protocol: `POST` with the message
    /// as the body (`application/json` or `application/proto`, optionally gzip per
    /// `Content-Encoding`), or `GET` for `NO_SIDE_EFFECTS` methods with `message`,
    /// `encoding`, `base64` and `compression` query parameters; `Connect-Protocol-Version`
    /// checked, `Connect-Timeout-Ms` honoured; the response gzip-compressed when
    /// `Accept-Encoding` allows it; errors as Connect's JSON error with the HTTP status of
    /// Connect's code mapping.
    func serveConnect(_ route: RPCRoute<CallContext>, request: Request, context: Context, requestID: String, logger: Logger) async -> Response {
        let method = route.method
        let isGET = request.method == .get || request.method == .head
        let query = ConnectQuery(request.uri.query ?? "")
        let contentType = request.headers[.contentType]
        let format = isGET ? query.format : WireFormat(contentType: contentType ?? "")
        let outcome = await invoke(route, request: request, context: context, requestID: requestID, logger: logger) {
            if let version = request.headers[.connectProtocolVersion], version != "1" {
                throw APIError.badRequest("Connect-Protocol-Version must be 1, not \"\(version.prefix(32))\"")
            }
            if isGET {
                if let version = query.values["connect"], version != "v1" {
                    throw APIError.badRequest("query parameter connect must be v1, not \"\(version.prefix(32))\"")
                }
                guard format != nil else {
                    throw APIError.unsupportedMediaType(query.values["encoding"].map { "encoding=\($0)" })
                }
            } else {
                guard format != nil else { throw APIError.unsupportedMediaType(contentType) }
            }
            guard let timeout = request.headers[.connectTimeoutMs] else { return nil }
            guard let duration = RPCTimeout.connect(timeout) else {
                throw APIError.badRequest("Connect-Timeout-Ms must be 1 to 10 digits, not \"\(timeout.prefix(32))\"")
            }
            return ContinuousClock.now + duration
        } decode: {
            let bodyFormat = format ?? .json
            var body: [UInt8]
            let encoding: String?
            if isGET {
                body = try query.message()
                encoding = query.values["compression"]
            } else {
                body = try await readBody(request)
                encoding = request.headers[.contentEncoding]
            }
            body = try decompress(body, encoding: encoding)
            if body.isEmpty, bodyFormat == .json {
                if isGET {
                    body = Array("{}".utf8)
                } else {
                    throw APIError.badRequest("request body is empty; send a JSON object (or {} for no fields)")
                }
            }
            return try RequestMessageBuilder.build(method: method, body: body, format: bodyFormat, pathParameters: [:], query: [], limits: limits)
        }
        switch outcome {
        case .success(let result):
            let responseFormat = format ?? .json
            let bytes: [UInt8]
            do {
                bytes = responseFormat == .json ? try result.jsonBytes() : try result.serializedBytes()
            } catch {
                return errorResponse(failure(error, method: method, caller: nil, requestID: requestID, logger: logger).error,
                                     format: .json, connect: true, requestID: requestID)
            }
            var response = Self.response(status: .ok, contentType: responseFormat.connectContentType, body: request.method == .head ? [] : bytes)
            if bytes.count >= Self.compressionThreshold, request.method != .head, Self.accepts(gzip: request.headers[.acceptEncoding]),
               let compressed = try? Gzip.compress(bytes) {
                response = Self.response(status: .ok, contentType: responseFormat.connectContentType, body: compressed)
                response.headers[.contentEncoding] = "gzip"
            }
            return response
        case .failure(let failure):
            return errorResponse(failure.error, format: .json, connect: true, requestID: requestID)
        }
    }

    /// `bytes` decoded per the `Content-Encoding` (`compression`) they arrived with.
    func decompress(_ bytes: [UInt8], encoding: String?) throws -> [UInt8] {
        switch encoding?.trimmingCharacters(in: .whitespaces).lowercased() {
        case nil, "", "identity":
            return bytes
        case "gzip":
            do {
                return try Gzip.decompress(bytes, limit: maxBodyBytes)
            } catch is Gzip.TooLarge {
                throw APIError.payloadTooLarge(maxBodyBytes)
            } catch {
                throw APIError.badRequest("malformed request: the body is not valid gzip")
            }
        case let other?:
            throw APIError.unimplemented("unsupported compression \"\(other.prefix(32))\"; use gzip or identity")
        }
    }

    /// Whether an `Accept-Encoding` list accepts gzip (RFC 9110 §12.5.3): `gzip` (or
    /// `x-gzip`) with a weight above 0, else `*` with a weight above 0. A weight that is
    /// not a number counts as 0, so nothing is compressed on a guess.
    static func accepts(gzip header: String?) -> Bool {
        guard let header else { return false }
        var gzip: Bool?
        var anyCoding: Bool?
        for entry in header.split(separator: ",") {
            let parts = entry.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            guard let coding = parts.first else { continue }
            let weight = parts.dropFirst().first { $0.hasPrefix("q=") }.map { Double($0.dropFirst(2)) ?? 0 } ?? 1
            switch coding {
            case "gzip", "x-gzip": gzip = weight > 0
            case "*": anyCoding = weight > 0
            default: break
            }
        }
        return gzip ?? anyCoding ?? false
    }
}

/// The query of a Connect `GET`: `message`, `encoding`, `base64`, `compression`, `connect`.
struct ConnectQuery {
    /// The parameters, percent-decoded (`+` as space); the first of repeated ones.
    let values: [String: String]

    init(_ query: String) {
        var values: [String: String] = [:]
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = String(parts[0]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding else { continue }
            let value = parts.count > 1 ? String(parts[1]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding : ""
            if values[name] == nil, let value { values[name] = value }
        }
        self.values = values
    }

    /// The format `encoding` names (`json` or `proto`).
    var format: WireFormat? {
        switch values["encoding"] {
        case "json": return .json
        case "proto": return .binary
        default: return nil
        }
    }

    /// The message bytes (still compressed when `compression` says so).
    func message() throws -> [UInt8] {
        let text = values["message"] ?? ""
        guard values["base64"] == "1" else { return Array(text.utf8) }
        var normalized = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while normalized.count % 4 != 0 { normalized += "=" }
        guard let data = Data(base64Encoded: normalized) else {
            throw APIError.badRequest("query parameter message is not valid base64")
        }
        return Array(data)
    }
}

extension HTTPField.Name {
    /// `Connect-Protocol-Version`.
    static let connectProtocolVersion = HTTPField.Name("Connect-Protocol-Version")!
    /// `Connect-Timeout-Ms`.
    static let connectTimeoutMs = HTTPField.Name("Connect-Timeout-Ms")!
}
