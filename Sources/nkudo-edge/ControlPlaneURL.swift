import Foundation

/// The rules of a `--control-plane` URL, checked before anything is sent: `https://`, a
/// host, a port from 1 to 65535 when one is given (a larger one used to wrap around to
/// another port), and no query, fragment or credentials, which the agent would not send.
enum ControlPlaneURL {
    /// What is wrong with `url`; nil when it can be used.
    static func problem(with url: String) -> String? {
        guard url.lowercased().hasPrefix("https://"), let components = URLComponents(string: url), let host = components.host,
              !host.isEmpty else {
            return "--control-plane must be an https:// URL with a host: \(url)"
        }
        if let port = components.port, !(1...65_535).contains(port) {
            return "--control-plane port must be 1 to 65535, not \(port): \(url)"
        }
        if components.query != nil || components.fragment != nil || components.user != nil || components.password != nil {
            return "--control-plane takes https://host[:port][/path], without a query, fragment or credentials: \(url)"
        }
        return nil
    }
}
