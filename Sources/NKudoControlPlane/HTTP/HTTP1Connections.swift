import ServiceLifecycle
import Synchronization

/// The open HTTP/1.1 connections and the tasks that answer them.
///
/// An ``HTTP1Connection`` has a task only while it has requests, and ``run()`` is where those
/// tasks run: children of this service's task, so they see a graceful shutdown
/// (`Task.isShuttingDownGracefully`: a long poll answers at once) and cancellation, and the
/// service ends only when they have. Hummingbird's `HTTP1Channel` kept one task per connection
/// in the server's task group for the same reasons.
///
/// On a graceful shutdown, the server closes idle connections and the others after their
/// response (Hummingbird's quiescing, through `HTTPConnectionStateHandler`); this service
/// goes on answering until every connection has closed. Listed before the server among the
/// application's services, it is shut down after it. Cancelled (or stopped), it closes the
/// connections left, and any opened after.
final class HTTP1Connections: Service, Sendable {
    private struct State {
        var open: [ObjectIdentifier: HTTP1Connection] = [:]
        var draining = false
        var stopped = false
    }

    private let state = Mutex(State())
    private let starts: AsyncStream<HTTP1Connection>
    private let startContinuation: AsyncStream<HTTP1Connection>.Continuation

    init() {
        (starts, startContinuation) = AsyncStream.makeStream()
    }

    /// Keeps `connection` until ``remove(_:)``; closes it at once if the service has stopped.
    func insert(_ connection: HTTP1Connection) {
        let stopped = state.withLock { state in
            if !state.stopped { state.open[ObjectIdentifier(connection)] = connection }
            return state.stopped
        }
        if stopped {
            connection.close()
        }
    }

    /// Lets go of `connection` (its pipeline was torn down: it closed). The last one to close
    /// during a graceful shutdown ends the service's loop.
    func remove(_ connection: HTTP1Connection) {
        let last = state.withLock { state in
            state.open.removeValue(forKey: ObjectIdentifier(connection))
            return state.draining && state.open.isEmpty
        }
        if last {
            startContinuation.finish()
        }
    }

    /// Answers `connection`'s requests in a task of ``run()``; closes it if the service has ended.
    func answer(_ connection: HTTP1Connection) {
        if case .terminated = startContinuation.yield(connection) {
            connection.close()
        }
    }

    /// Runs the answering tasks until every connection has closed after a graceful shutdown,
    /// or until cancelled (then closes the connections left).
    func run() async {
        await withDiscardingTaskGroup { group in
            await withTaskCancellationHandler {
                await withGracefulShutdownHandler {
                    for await connection in starts {
                        group.addTask { await connection.answer() }
                    }
                } onGracefulShutdown: {
                    let idle = self.state.withLock { state in
                        state.draining = true
                        return state.open.isEmpty
                    }
                    if idle {
                        self.startContinuation.finish()
                    }
                }
            } onCancel: {
                self.stop()
            }
        }
        stop()
    }

    /// Ends the loop and closes the connections still open.
    private func stop() {
        let open = state.withLock { state in
            state.stopped = true
            defer { state.open = [:] }
            return Array(state.open.values)
        }
        startContinuation.finish()
        for connection in open {
            connection.close()
        }
    }
}
