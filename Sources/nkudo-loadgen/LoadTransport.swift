import Foundation
import NIOCore
import NIOHTTP1
import NKudoContract

/// The generated clients over one ``HTTPSConnection``: the RPC's primary HTTP binding with
/// its path parameters filled from the request, in binary protobuf or JSON.
struct LoadTransport: RPCClientTransport {
    let connection: HTTPSConnection
    let format: WireFormat
    var headers: [(String, String)] = []
    /// Calls at the Connect paths (`POST /<service>/<method>`) instead of the REST routes.
    var connect = false

    func unary<Request: ProtoMessage, Response: ProtoMessage>(_ method: RPCMethod, request: Request, responseType: Response.Type) async throws -> Response {
        if connect {
            let body = ByteBuffer(bytes: format == .json ? try request.jsonBytes() : try request.serializedBytes())
            let response = try await connection.request(method: .POST, path: method.connectPath, headers: headers + Self.connectHeaders(format), body: body)
            return try Self.decodeConnect(response, as: Response.self, format: format)
        }
        let binding = method.bindings[0]
        let bound = try binding.request(request.protoFields)
        var body: ByteBuffer?
        var requestHeaders = headers
        requestHeaders.append(("Accept", format.contentType))
        if binding.body == "*" {
            let message = try Request(protoFields: bound.bodyFields)
            body = ByteBuffer(bytes: format == .json ? try message.jsonBytes() : try message.serializedBytes())
            requestHeaders.append(("Content-Type", format.contentType))
        }
        let response = try await connection.request(method: HTTPMethod(rawValue: binding.method), path: bound.target, headers: requestHeaders, body: body)
        return try Self.decode(response, as: Response.self, format: format)
    }

    /// The headers of a Connect unary call in `format`.
    static func connectHeaders(_ format: WireFormat) -> [(String, String)] {
        [("Content-Type", format.connectContentType), ("Connect-Protocol-Version", "1")]
    }

    /// The response message of a Connect call, or a failure of kind `connect <code>` / `decode`.
    static func decodeConnect<Response: ProtoMessage>(_ response: HTTPSConnection.Response, as type: Response.Type,
                                                      format: WireFormat) throws -> Response {
        let bytes = Array(response.body.readableBytesView)
        guard response.status == 200 else {
            let error = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any]
            throw HTTPSConnection.Failure(kind: "connect \(error?["code"] as? String ?? "http \(response.status)")",
                                          message: error?["message"] as? String ?? String(decoding: bytes.prefix(300), as: UTF8.self))
        }
        do {
            return format == .json ? try Response(jsonBytes: bytes, options: JSONDecodingOptions(ignoreUnknownFields: true))
                                   : try Response(serializedBytes: bytes)
        } catch {
            throw HTTPSConnection.Failure(kind: "decode", message: "\(error)")
        }
    }

    /// The response message, or a failure of kind `http <status>` / `decode`.
    static func decode<Response: ProtoMessage>(_ response: HTTPSConnection.Response, as type: Response.Type, format: WireFormat) throws -> Response {
        let bytes = response.body.readableBytesView
        let isJSON = response.contentType?.hasPrefix("application/json") ?? (format == .json)
        guard (200..<300).contains(response.status) else {
            let error = isJSON ? try? ErrorMessage(jsonBytes: Array(bytes), options: JSONDecodingOptions(ignoreUnknownFields: true))
                               : try? ErrorMessage(serializedBytes: Array(bytes))
            throw HTTPSConnection.Failure(kind: "http \(response.status)", message: error?.error ?? String(decoding: bytes.prefix(300), as: UTF8.self))
        }
        do {
            return isJSON ? try Response(jsonBytes: Array(bytes), options: JSONDecodingOptions(ignoreUnknownFields: true))
                          : try Response(serializedBytes: Array(bytes))
        } catch {
            throw HTTPSConnection.Failure(kind: "decode", message: "\(error)")
        }
    }
}
