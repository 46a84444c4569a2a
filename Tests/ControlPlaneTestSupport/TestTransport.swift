public import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
public import NKudoContract

/// The generated clients over AsyncHTTPClient, as a test client: the RPC's primary HTTP
/// binding (path parameters and GET query filled from the request fields) or its
/// Connect path, in JSON or binary, with extra headers (API keys).
public struct TestTransport: RPCClientTransport {
    public let harness: ControlPlaneHarness
    public let client: HTTPClient
    public var format: WireFormat
    public var connect: Bool
    public var headers: [(String, String)]

    public init(harness: ControlPlaneHarness, client: HTTPClient, format: WireFormat = .json, connect: Bool = false,
                headers: [(String, String)] = []) {
        self.harness = harness
        self.client = client
        self.format = format
        self.connect = connect
        self.headers = headers
    }

    /// A non-2xx answer.
    public struct Failure: Error, CustomStringConvertible {
        public let status: Int
        public let body: String
        public var description: String { "HTTP \(status): \(body)" }
    }

    public func unary<Request: ProtoMessage, Response: ProtoMessage>(_ method: RPCMethod, request: Request, responseType: Response.Type) async throws -> Response {
        let binding = method.bindings[0]
        var path = connect ? method.connectPath : binding.path
        var fields = request.protoFields
        if !connect {
            for name in binding.pathParameters {
                guard let index = fields.schema.fieldIndex(named: name), case .string(let value)? = fields[index] else { continue }
                path = path.replacingOccurrences(of: "{\(name)}", with: value.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? value)
                fields[index] = nil
            }
        }
        var body: [UInt8]?
        if connect || binding.body == "*" {
            body = format == .json ? try Request(protoFields: fields).jsonBytes() : try Request(protoFields: fields).serializedBytes()
        } else {
            var items: [String] = []
            for (index, field) in fields.schema.fields.enumerated() {
                switch fields[index] {
                case .string(let value)? where !value.isEmpty: items.append("\(field.name)=\(value)")
                case .int32(let value)? where value != 0: items.append("\(field.name)=\(value)")
                default: break
                }
            }
            if !items.isEmpty { path += "?" + items.joined(separator: "&") }
        }
        var requestHeaders = headers
        if body != nil { requestHeaders.append(("Content-Type", connect ? format.connectContentType : format.contentType)) }
        requestHeaders.append(("Accept", format.contentType))
        let method: HTTPMethod = connect ? .POST : HTTPMethod(rawValue: binding.method)
        let (status, _, bytes) = try await harness.send(client, method, path, body: body, headers: requestHeaders)
        guard (200..<300).contains(status) else { throw Failure(status: status, body: String(decoding: bytes, as: UTF8.self)) }
        return format == .json ? try Response(jsonBytes: bytes, options: JSONDecodingOptions(ignoreUnknownFields: true))
                               : try Response(serializedBytes: bytes)
    }
}
