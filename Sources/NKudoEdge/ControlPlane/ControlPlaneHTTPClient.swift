import AsyncHTTPClient
import NIOCore

/// The agent's one HTTP client: its connection pools are shared by every call to every
/// control plane — heartbeats, results, logs, renewal, across fail-over — so a renewal or
/// a fail-over does not start a new client (event loops, pools) each time. TLS settings
/// (trust, client certificate) travel with each request (``ControlPlaneTransport``), and
/// connections are pooled per control plane and TLS settings.
public final class ControlPlaneHTTPClient: Sendable {
    let client: HTTPClient

    /// A client with a short connect timeout (3 s): AsyncHTTPClient retries a refused
    /// connection until the connect timeout, and an unreachable control plane must fail
    /// (and back off, or fail over) quickly.
    public init() {
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .seconds(3))
        configuration.httpVersion = .http1Only
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// Closes the pooled connections.
    public func shutdown() async {
        try? await client.shutdown()
    }

    deinit {
        // Non-blocking: the last reference may go away on one of the client's event loops,
        // where `syncShutdown` would deadlock.
        _ = client.shutdown()
    }
}
