import AsyncHTTPClient
import ControlPlaneTestSupport
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import NKudoControlPlane
import Synchronization

/// A minimal browser for the web console over HTTPS: keeps the cookies the console sets,
/// does not follow redirects (tests look at them), and reads the hidden form fields.
final class ConsoleBrowser: Sendable {
    let harness: ControlPlaneHarness
    let client: HTTPClient
    let cookies = Mutex<[String: String]>([:])

    /// A page as the console answered it.
    struct Page {
        let status: Int
        let headers: HTTPHeaders
        let body: String

        var location: String? { headers.first(name: "Location") }

        /// The value of the hidden input `name` (the first one, or the first after `marker`).
        func field(_ name: String, after marker: String? = nil) -> String? {
            let from = marker.flatMap { body.range(of: $0)?.upperBound } ?? body.startIndex
            guard let start = body.range(of: "name=\"\(name)\" value=\"", range: from..<body.endIndex) else { return nil }
            let rest = body[start.upperBound...]
            guard let end = rest.firstIndex(of: "\"") else { return nil }
            return String(rest[..<end])
        }

        /// The `Set-Cookie` header setting `name`.
        func setCookie(_ name: String) -> String? {
            headers["Set-Cookie"].first { $0.hasPrefix("\(name)=") }
        }
    }

    init(_ harness: ControlPlaneHarness) throws {
        self.harness = harness
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(harness.pki.caCertificatePEM.utf8)))
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        configuration.redirectConfiguration = .disallow
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    func shutdown() async {
        try? await client.shutdown()
    }

    /// GET `path`.
    func get(_ path: String, headers: [(String, String)] = []) async throws -> Page {
        try await send(.GET, path, headers: headers)
    }

    /// POSTs `fields` as a form, as the console's own page would (same origin).
    func post(_ path: String, _ fields: [(String, String)], headers: [(String, String)] = [("Origin", "same")]) async throws -> Page {
        let body = fields.map { "\(Self.encode($0.0))=\(Self.encode($0.1))" }.joined(separator: "&")
        let headers = headers.map { $0.0 == "Origin" && $0.1 == "same" ? ("Origin", "https://127.0.0.1:\(harness.port)") : $0 }
        return try await send(.POST, path, body: Array(body.utf8), headers: [("Content-Type", "application/x-www-form-urlencoded")] + headers)
    }

    /// Signs in through the form with `key` (an API key, or the admin key with `admin`).
    func signIn(_ key: String, admin: Bool = false) async throws -> Page {
        let form = try await get("/ui/sign-in")
        return try await post("/ui/sign-in", [("login_token", form.field("login_token") ?? ""), ("kind", admin ? "admin" : "tenant"), ("key", key)])
    }

    func cookie(_ name: String) -> String? { cookies.withLock { $0[name] } }

    func setCookie(_ name: String, _ value: String?) { cookies.withLock { $0[name] = value } }

    func send(_ method: HTTPMethod, _ path: String, body: [UInt8]? = nil, headers: [(String, String)] = []) async throws -> Page {
        var request = HTTPClientRequest(url: harness.baseURL + path)
        request.method = method
        let jar = cookies.withLock { $0 }
        if !jar.isEmpty { request.headers.add(name: "Cookie", value: jar.map { "\($0.key)=\($0.value)" }.joined(separator: "; ")) }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        let response = try await client.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 16 << 20)
        for header in response.headers["Set-Cookie"] {
            let pair = header.split(separator: ";")[0].split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let value = pair.count == 2 ? String(pair[1]) : ""
            cookies.withLock { $0[String(pair[0])] = value.isEmpty || header.contains("Max-Age=0") ? nil : value }
        }
        return Page(status: Int(response.status.code), headers: response.headers, body: String(decoding: bytes.readableBytesView, as: UTF8.self))
    }

    private static func encode(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }
}
