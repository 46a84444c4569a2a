import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NKudoPKI

/// The HTTP pieces of the console: its cookies, its security headers, form bodies and the
/// cross-origin checks of its POSTs.
enum ConsoleHTTP {
    /// The cookie holding the session id (random; the database knows only its SHA-256).
    static let sessionCookie = "nkudo_session"
    /// The cookie of the sign-in form's double-submit token (against login CSRF).
    static let loginCookie = "nkudo_login"
    /// Largest form body the console reads.
    static let maxFormBytes = 64 * 1024

    /// The Content-Security-Policy of every console response: nothing inline, scripts,
    /// styles and fetches from this origin only, forms posting here only, never framed.
    static let contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        + "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

    /// A `Set-Cookie` value: HttpOnly, Secure, SameSite=Strict, scoped to `/ui`.
    static func setCookie(_ name: String, _ value: String, maxAge: Int? = nil) -> String {
        var cookie = "\(name)=\(value); Path=/ui; HttpOnly; Secure; SameSite=Strict"
        if let maxAge { cookie += "; Max-Age=\(maxAge)" }
        return cookie
    }

    /// A `Set-Cookie` value deleting the cookie.
    static func clearCookie(_ name: String) -> String {
        setCookie(name, "", maxAge: 0)
    }

    /// The request's cookie of this name.
    static func cookie(_ name: String, in headers: HTTPFields) -> String? {
        for header in headers[values: .cookie] {
            for pair in header.split(separator: ";") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                guard parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces) == name else { continue }
                return parts[1].trimmingCharacters(in: .whitespaces)
            }
        }
        return nil
    }

    /// The fields of an `application/x-www-form-urlencoded` body or query (the first of
    /// each name). Malformed percent escapes leave the field out.
    static func formFields(_ text: String) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = decode(parts[0]) else { continue }
            let value = parts.count == 2 ? decode(parts[1]) : ""
            if let value, fields[name] == nil { fields[name] = value }
        }
        return fields
    }

    private static func decode(_ text: Substring) -> String? {
        text.replacingOccurrences(of: "+", with: " ").removingPercentEncoding
    }

    /// A value for a URL's query (everything but unreserved characters percent-encoded).
    static func queryValue(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }

    /// Why a POST is refused as cross-origin, or nil when it comes from the console's own
    /// pages: `Sec-Fetch-Site`, when the browser sends it, must be `same-origin`; `Origin`,
    /// when sent, must be this host over HTTPS. (Clients that send neither still need the
    /// session's CSRF token.)
    static func crossOriginRefusal(_ request: Request) -> String? {
        if let site = request.headers[.secFetchSite], site != "same-origin" {
            return "cross-site request refused (Sec-Fetch-Site: \(site.prefix(32)))"
        }
        if let origin = request.headers[.origin] {
            guard let host = request.head.authority, origin == "https://\(host)" else {
                return "cross-origin request refused"
            }
        }
        return nil
    }

    /// Whether two secrets are equal, in constant time.
    static func secretsMatch(_ presented: String?, _ expected: String) -> Bool {
        guard let presented, !expected.isEmpty else { return false }
        return Digest.constantTimeEquals(Array(presented.utf8), Array(expected.utf8))
    }

    /// A console response with its security headers: CSP, no framing, no referrer to other
    /// origins (`same-origin`: with `no-referrer` browsers send `Origin: null` on form posts,
    /// which the cross-origin check must refuse), no sniffing, and `no-store` unless `cacheable`.
    static func response(_ status: HTTPResponse.Status, contentType: String = "text/html; charset=utf-8", body: [UInt8],
                         cacheable: Bool = false, cookies: [String] = []) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = contentType
        headers[.contentSecurityPolicy] = contentSecurityPolicy
        headers[.xFrameOptions] = "DENY"
        headers[.referrerPolicy] = "same-origin"
        headers[.xContentTypeOptions] = "nosniff"
        headers[.crossOriginOpenerPolicy] = "same-origin"
        headers[.cacheControl] = cacheable ? "private, max-age=300" : "no-store"
        for cookie in cookies { headers.append(HTTPField(name: .setCookie, value: cookie)) }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// 303 See Other to `location` (after a POST, or to the sign-in page).
    static func redirect(to location: String, cookies: [String] = []) -> Response {
        var response = self.response(.seeOther, body: [], cookies: cookies)
        response.headers[.location] = location
        return response
    }
}

extension HTTPField.Name {
    static let secFetchSite = HTTPField.Name("Sec-Fetch-Site")!
    static let xFrameOptions = HTTPField.Name("X-Frame-Options")!
    static let referrerPolicy = HTTPField.Name("Referrer-Policy")!
    static let xContentTypeOptions = HTTPField.Name("X-Content-Type-Options")!
    static let crossOriginOpenerPolicy = HTTPField.Name("Cross-Origin-Opener-Policy")!
}
