import ServiceLifecycle
import Synchronization

/// The open HTTP/1.1 connections, closed when the server stops.
///
/// An idle ``HTTP1Connection`` has no task (Hummingbird's `HTTP1Channel` keeps one per
/// connection, which closes the connection when the server's task is cancelled). A graceful
/// shutdown closes idle connections by itself (Hummingbird's quiescing, through
/// `HTTPConnectionStateHandler`); this service closes those left when it ends or is
/// cancelled, and any opened after. Listed before the server among the application's
/// services, it is shut down after the server.
final class HTTP1Connections: Service, Sendable {
    private struct State {
        var open: [ObjectIdentifier: HTTP1Connection] = [:]
        var stopped = false
    }

    private let state = Mutex(State())

    init() {}

    /// Keeps `connection` until ``remove(_:)``; closes it at once if the server has stopped.
    func insert(_ connection: HTTP1Connection) {
        let stopped = state.withLock { state in
            if !state.stopped { state.open[ObjectIdentifier(connection)] = connection }
            return state.stopped
        }
        if stopped {
            connection.close()
        }
    }

    /// Lets go of `connection` (its pipeline was torn down: it closed).
    func remove(_ connection: HTTP1Connection) {
        _ = state.withLock { $0.open.removeValue(forKey: ObjectIdentifier(connection)) }
    }

    /// Waits for the end of the application (graceful shutdown or cancellation), then closes
    /// the connections still open.
    func run() async {
        try? await gracefulShutdown()
        let open = state.withLock { state in
            state.stopped = true
            defer { state.open = [:] }
            return Array(state.open.values)
        }
        for connection in open {
            connection.close()
        }
    }
}
