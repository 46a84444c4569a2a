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

    func unary<Request: ProtoMessage, Response: ProtoMessage>(_ method: RPCMethod, request: Request, responseType: Response.Type) async throws -> Response {
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
