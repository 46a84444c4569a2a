import Foundation
import NIOCore
import NIOPosix

/// A failed connection in the system's words (`Connection refused`), for the one-line
/// errors of the agent and the CLI: NIO describes the same failure as
/// `Connection errors: SingleConnectionFailure(target: …, error: connection reset (error
/// set): Connection refused) (errno: 111))`.
public enum ConnectionErrorText {
    /// The system's reason for a failed connection; other errors as they describe themselves.
    public static func reason(_ error: any Error) -> String {
        if let error = error as? IOError { return String(cString: strerror(error.errnoCode)) }
        if let error = error as? NIOConnectionError {
            if let first = error.connectionErrors.first { return reason(first.error) }
            if let lookup = error.dnsAAAAError ?? error.dnsAError { return reason(lookup) }
            return "no address to connect to"
        }
        return "\(error)"
    }
}
