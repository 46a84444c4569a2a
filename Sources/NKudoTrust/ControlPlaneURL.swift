import Foundation

/// The rules of a control plane URL, one set for the agent (`--control-plane`) and the CLI
/// (`--url`), checked before anything is sent: `https://`, a host, a port from 1 to 65535
/// when one is given (a larger one used to wrap around to another port), and no query,
/// fragment or credentials, which neither would send.
public enum ControlPlaneURL {
    /// What is wrong with a URL, in words that follow the flag or the URL it is about.
    public struct Problem: Error, CustomStringConvertible {
        public let description: String
    }

    /// The host and port (443 when none is given) of `url`.
    public static func hostAndPort(_ url: String) throws(Problem) -> (host: String, port: Int) {
        guard let components = URLComponents(string: url), components.scheme?.lowercased() == "https",
              let host = components.host, !host.isEmpty else {
            throw Problem(description: "must be https://host[:port]")
        }
        if let port = components.port, !(1...65_535).contains(port) {
            throw Problem(description: "port must be 1 to 65535, not \(port)")
        }
        guard components.query == nil, components.fragment == nil, components.user == nil, components.password == nil else {
            throw Problem(description: "takes https://host[:port][/path], without a query, fragment or credentials")
        }
        return (host, components.port ?? 443)
    }
}
