internal import NIOPosix

/// Dedicated threads for blocking database calls (SQLite, libpq), so that they never run
/// on the caller's executor: not on the Swift concurrency cooperative pool, not on a
/// NIO event loop.
///
/// A database sizes its executor to its connection limit: every job holds one connection
/// slot for its whole run, so a job that owns a connection always finds a free thread and
/// never waits behind jobs that wait for its locks.
package final class BlockingExecutor: Sendable {
    private let threadPool: NIOThreadPool

    /// Starts `numberOfThreads` threads.
    package init(numberOfThreads: Int) {
        threadPool = NIOThreadPool(numberOfThreads: numberOfThreads)
        threadPool.start()
    }

    deinit {
        // A database dropped without `close()`: let the threads finish their jobs and exit.
        // Shutting down an already shut-down pool does nothing.
        threadPool.shutdownGracefully { _ in }
    }

    /// Runs `job` on one of the executor's threads and returns its result, or `nil` when
    /// the executor was shut down before the job started (the job did not run).
    ///
    /// Not cancellable: a job that holds a connection always runs to its end, so the
    /// connection goes back to its pool in a known state.
    package func run<T: Sendable>(_ job: @escaping @Sendable () -> T) async -> T? {
        await withCheckedContinuation { (continuation: CheckedContinuation<T?, Never>) in
            threadPool.submit { state in
                switch state {
                case .active:
                    continuation.resume(returning: job())
                case .cancelled:
                    continuation.resume(returning: nil)
                }
            }
        }
    }

    /// Waits for the running jobs to end and stops the threads; jobs that had not started
    /// do not run.
    package func shutdown() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            threadPool.shutdownGracefully { _ in continuation.resume() }
        }
    }
}
