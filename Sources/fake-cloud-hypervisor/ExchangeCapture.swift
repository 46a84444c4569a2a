import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The capture file of `NKUDO_FAKE_CH_CAPTURE`: one JSON line per API exchange, appended
/// with `O_APPEND` in a single `write` so that several fake VMMs can share one file.
///
/// A line is `{"request": {"method", "path", "content_type", "body"}, "response":
/// {"status", "content_type", "body"}}`: bodies as JSON, `null` when empty, with the raw
/// text in `body_text` when a body is not JSON; the response is `null` for a request the
/// fake never answered (`FAKE_CH_HANG`). `scripts/check-ch-openapi` validates these
/// lines against Cloud Hypervisor's OpenAPI document.
struct ExchangeCapture: Sendable {
    /// The file appended to.
    let path: String

    /// One side of an exchange: the `Content-Type` header and the body.
    struct Message {
        var contentType: String?
        var body: String
    }

    /// Appends the exchange of `method path` with `request`, answered `status` with
    /// `response` (or not answered: nil).
    func append(method: String, path: String, request: Message, status: Int?, response: Message?) {
        var requestObject = Self.object(request)
        requestObject["method"] = method
        requestObject["path"] = path
        var responseObject: Any = NSNull()
        if let status, let response {
            var object = Self.object(response)
            object["status"] = status
            responseObject = object
        }
        let exchange: [String: Any] = ["request": requestObject, "response": responseObject]
        guard var line = try? JSONSerialization.data(withJSONObject: exchange, options: [.sortedKeys, .withoutEscapingSlashes]) else {
            return
        }
        line.append(UInt8(ascii: "\n"))
        let descriptor = open(self.path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            FileHandle.standardError.write(Data("fake-cloud-hypervisor: cannot open capture \(self.path): \(String(cString: strerror(errno)))\n".utf8))
            return
        }
        defer { close(descriptor) }
        _ = line.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
    }

    /// `content_type` and `body` (JSON, `null` when empty) plus `body_text` for a body
    /// that is not JSON.
    private static func object(_ message: Message) -> [String: Any] {
        var object: [String: Any] = ["content_type": message.contentType ?? NSNull(), "body": NSNull()]
        guard !message.body.isEmpty else {
            return object
        }
        if let json = try? JSONSerialization.jsonObject(with: Data(message.body.utf8), options: [.fragmentsAllowed]) {
            object["body"] = json
        } else {
            object["body_text"] = message.body
        }
        return object
    }
}
