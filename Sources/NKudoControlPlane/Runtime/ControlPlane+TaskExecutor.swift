import NIOCore
import NIOPosix

extension ControlPlane {
    /// Makes NIO's event loops (the threads that read and write the connections) Swift
    /// Concurrency's global executor, so that a request's tasks run on the event loop that
    /// received it instead of waking a thread of Swift's own pool for every step.
    ///
    /// Without it a heartbeat crossed threads at each hand-over: the event loop yielded the
    /// request to the connection's task on the pool, which started the request's child task,
    /// which handed the response back to the event loop; each crossing is a futex wake and a
    /// context switch (README, Performance). The event loops are as many as the cores, like
    /// Swift's pool; nothing on the request path blocks a thread (the stores' calls run on
    /// their own threads: the thread pool of NKudoSQL's `BlockingExecutor`).
    ///
    /// Call it once, first thing in `main`, before any task runs; returns whether it took
    /// effect (false when another hook was installed first).
    @discardableResult
    public static func runTasksOnEventLoops() -> Bool {
        NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
    }
}
