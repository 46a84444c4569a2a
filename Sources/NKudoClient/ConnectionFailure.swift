import AsyncHTTPClient
import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import NKudoTrust

/// Turns the errors of a failed HTTPS exchange into one-line ``ClientError``s: TLS
/// refusals name the pinned CA, unreachable servers the URL.
enum ConnectionFailure {
    static func describe(_ error: any Error, url: String, pinnedFingerprint: String?) -> ClientError {
        if let error = error as? ClientError { return error }
        let pinned = pinnedFingerprint.map { " (pinned CA sha256:\($0.prefix(16))…)" } ?? ""
        if let error = error as? NIOSSLError {
            switch error {
            case .handshakeFailed(let reason):
                let code = openSSLReason("\(reason)")
                if code == "CERTIFICATE_VERIFY_FAILED" {
                    return ClientError(.connection, "TLS: \(url) is not trusted by the pinned CA\(pinned): its certificate does not chain to it "
                                       + "(another server, or the control plane's CA changed: run nkudo login again with the new fingerprint)")
                }
                return ClientError(.connection, "TLS handshake with \(url) failed (is it the control plane's HTTPS port?): \(code)")
            case .unableToValidateCertificate:
                return ClientError(.connection, "TLS: cannot validate the certificate of \(url) against the pinned CA\(pinned)")
            default:
                return ClientError(.connection, "TLS with \(url) failed: \(error)")
            }
        }
        if let error = error as? NIOSSLExtraError {
            return ClientError(.connection, "TLS: \(url) is not trusted by the pinned CA\(pinned): \(error)")
        }
        if let error = error as? HTTPClientError {
            switch error {
            case .connectTimeout:
                return ClientError(.connection, "cannot connect to \(url): connection timed out")
            case .deadlineExceeded, .readTimeout:
                return ClientError(.connection, "\(url) did not answer in time")
            case .remoteConnectionClosed:
                return ClientError(.connection, "\(url) closed the connection")
            default:
                return ClientError(.connection, "cannot talk to \(url): \(error)")
            }
        }
        if error is NIOConnectionError || error is IOError {
            return ClientError(.connection, "cannot connect to \(url): \(ConnectionErrorText.reason(error))")
        }
        return ClientError(.connection, "cannot talk to \(url): \(error)")
    }

    /// The reason name in an OpenSSL/BoringSSL error string (`…:OPENSSL_internal:WRONG_VERSION_NUMBER at …`).
    static func openSSLReason(_ text: String) -> String {
        guard let range = text.range(of: "OPENSSL_internal:") else { return text }
        return String(text[range.upperBound...].prefix { $0.isLetter || $0.isNumber || $0 == "_" })
    }
}
