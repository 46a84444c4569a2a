internal import Synchronization

/// A snapshot of a database's connection pool, for metrics.
public struct ConnectionPoolStatistics: Sendable, Hashable {
    /// Connection slots taken: open connections, idle or lent, and connections being opened.
    public var open: Int
    /// Slots lent to running `withConnection`/`withTransaction` bodies.
    public var inUse: Int
    /// Callers waiting for a slot because all `maxConnections` are in use.
    public var waiting: Int

    /// Creates a snapshot.
    public init(open: Int, inUse: Int, waiting: Int) {
        self.open = open
        self.inUse = inUse
        self.waiting = waiting
    }
}


/// What a caller of the pool receives: an idle connection, or a slot to open a new one in.
enum PoolLease<Connection: AnyObject & Sendable>: Sendable {
    case connection(Connection)
    case newConnection
}

/// The pool's bookkeeping as a pure state machine: no locks, no I/O, no threads.
///
/// A *slot* is the right to hold one connection; at most `maximum` slots are taken. A
/// taken slot is idle (its connection waits in `idle`) or lent (to a caller, which may
/// not have opened its connection yet). Waiters queue in arrival order when every slot
/// is lent.
struct ConnectionPoolStateMachine<Connection: AnyObject & Sendable, Waiter> {
    typealias Lease = PoolLease<Connection>

    enum AcquireAction {
        /// Use this lease now.
        case lease(Lease)
        /// The waiter was queued; it is resumed by a later release or by `close`.
        case wait
        /// The pool is closed.
        case fail
    }

    enum ReleaseAction {
        /// Hand this lease to this waiter.
        case resume(Waiter, Lease)
        /// The connection went back to the idle list, or the slot was freed.
        case none
        /// The pool is closed: close this connection.
        case close(Connection)
    }

    let maximum: Int
    private var idle: [Connection] = []
    private var taken = 0
    private var waiters: [(id: Int, waiter: Waiter)] = []
    private(set) var isClosed = false

    /// A pool of at most `maximum` connections (at least 1), starting with `idle` open ones.
    init(maximum: Int, idle: [Connection] = []) {
        precondition(maximum >= 1 && idle.count <= maximum)
        self.maximum = maximum
        self.idle = idle
        self.taken = idle.count
    }

    var statistics: ConnectionPoolStatistics {
        ConnectionPoolStatistics(open: taken, inUse: taken - idle.count, waiting: waiters.count)
    }

    /// A caller wants a connection; `waiter` is queued (under `id`) when none is free.
    mutating func acquire(id: Int, waiter: Waiter) -> AcquireAction {
        if isClosed { return .fail }
        if let connection = idle.popLast() { return .lease(.connection(connection)) }
        if taken < maximum {
            taken += 1
            return .lease(.newConnection)
        }
        waiters.append((id, waiter))
        return .wait
    }

    /// The waiter queued under `id` gave up; returns it when it was still queued.
    mutating func cancel(id: Int) -> Waiter? {
        guard let index = waiters.firstIndex(where: { $0.id == id }) else { return nil }
        return waiters.remove(at: index).waiter
    }

    /// A caller is done with a healthy connection.
    mutating func release(_ connection: Connection) -> ReleaseAction {
        if isClosed {
            taken -= 1
            return .close(connection)
        }
        if !waiters.isEmpty {
            return .resume(waiters.removeFirst().waiter, .connection(connection))
        }
        idle.append(connection)
        return .none
    }

    /// A caller gives its slot back without a connection (it discarded a broken one or
    /// could not open one): the next waiter may open a new connection in it.
    mutating func releaseSlot() -> ReleaseAction {
        if !isClosed && !waiters.isEmpty {
            return .resume(waiters.removeFirst().waiter, .newConnection)
        }
        taken -= 1
        return .none
    }

    /// Takes every idle connection out of the pool (after one of them was found broken,
    /// the others may be too), freeing their slots.
    mutating func drainIdle() -> [Connection] {
        let drained = idle
        idle = []
        taken -= drained.count
        return drained
    }

    /// Closes the pool and returns the waiters to fail. Idle connections stay until
    /// `drainIdle`; lent connections are closed when they come back.
    mutating func close() -> [Waiter] {
        isClosed = true
        let failed = waiters.map(\.waiter)
        waiters = []
        return failed
    }
}

/// A bounded pool of connections of one driver and the threads its bodies run on.
///
/// `run` waits (asynchronously, without a thread) for a slot, then runs a job on the
/// pool's `BlockingExecutor`; the job gets the slot as a `PoolSlot` and the slot is
/// given back when the job ends.
package final class ConnectionPool<Connection: AnyObject & Sendable>: Sendable {
    typealias Lease = PoolLease<Connection>
    typealias Waiter = CheckedContinuation<Result<Lease, StoreError>, Never>
    typealias StateMachine = ConnectionPoolStateMachine<Connection, Waiter>

    private struct State: ~Copyable {
        var machine: StateMachine
        var nextWaiterID = 0
    }

    private let state: Mutex<State>
    private let executor: BlockingExecutor

    /// A pool of at most `maximum` connections, starting with `idle` open ones, with one
    /// thread per connection.
    package init(maximum: Int, idle: [Connection] = []) {
        state = Mutex(State(machine: StateMachine(maximum: maximum, idle: idle)))
        executor = BlockingExecutor(numberOfThreads: maximum)
    }

    package var statistics: ConnectionPoolStatistics {
        state.withLock { $0.machine.statistics }
    }

    /// Runs `job` on a pool thread with a connection slot.
    package func run<T: Sendable>(
        _ job: @escaping @Sendable (PoolSlot<Connection>) -> Result<T, StoreError>
    ) async throws(StoreError) -> T {
        let lease = try await acquire()
        let result = await executor.run { () -> Result<T, StoreError> in
            let slot = PoolSlot(pool: self, lease: lease)
            let result = job(slot)
            slot.giveBack()
            return result
        }
        guard let result else {
            // The executor stopped (the pool was closed) before the job started.
            PoolSlot(pool: self, lease: lease).giveBack()
            throw Self.closedError
        }
        return try result.get()
    }

    /// Fails the waiters, closes the idle connections, waits for the running jobs (their
    /// connections are closed when they end) and stops the threads.
    package func close() async {
        let waiters = state.withLock { $0.machine.close() }
        for waiter in waiters {
            waiter.resume(returning: .failure(Self.closedError))
        }
        // On a pool thread: closing may block (SQLite checkpoints its WAL file).
        _ = await executor.run { self.closeIdleConnections() }
        await executor.shutdown()
    }

    static var closedError: StoreError { StoreError(.unavailable, "the database is closed") }

    private func acquire() async throws(StoreError) -> Lease {
        let id = state.withLock { state in
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
        let result = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: Waiter) in
                let action = state.withLock { state -> StateMachine.AcquireAction in
                    // Checked under the lock: a cancellation that came before the waiter was
                    // queued found nothing to cancel, so it must be seen here.
                    if Task.isCancelled { return .fail }
                    return state.machine.acquire(id: id, waiter: continuation)
                }
                switch action {
                case .lease(let lease):
                    continuation.resume(returning: .success(lease))
                case .wait:
                    break
                case .fail:
                    let closed = state.withLock { $0.machine.isClosed }
                    continuation.resume(returning: .failure(closed ? Self.closedError : Self.cancelledError))
                }
            }
        } onCancel: {
            if let waiter = state.withLock({ $0.machine.cancel(id: id) }) {
                waiter.resume(returning: .failure(Self.cancelledError))
            }
        }
        return try result.get()
    }

    private static var cancelledError: StoreError {
        StoreError(.unavailable, "cancelled while waiting for a database connection")
    }

    fileprivate func release(_ connection: Connection) {
        perform(state.withLock { $0.machine.release(connection) })
    }

    fileprivate func releaseSlot() {
        perform(state.withLock { $0.machine.releaseSlot() })
    }

    /// Takes the idle connections out of the pool and closes them, on the calling thread.
    fileprivate func closeIdleConnections() {
        let drained = state.withLock { $0.machine.drainIdle() }
        // The last references: the connections close here, outside the lock.
        withExtendedLifetime(drained) {}
    }

    private func perform(_ action: StateMachine.ReleaseAction) {
        switch action {
        case .resume(let waiter, let lease):
            waiter.resume(returning: .success(lease))
        case .none:
            break
        case .close(let connection):
            // The last reference: the connection closes here, outside the lock.
            withExtendedLifetime(connection) {}
        }
    }
}

/// The connection slot a pool job holds, on the job's thread only.
///
/// The job takes the slot's connection (opening one when the slot has none), may discard
/// a broken connection and open another in the same slot, and the pool gives the slot
/// back when the job ends: with its connection to the idle list, or empty.
package final class PoolSlot<Connection: AnyObject & Sendable> {
    private let pool: ConnectionPool<Connection>
    private var current: Connection?

    fileprivate init(pool: ConnectionPool<Connection>, lease: ConnectionPool<Connection>.Lease) {
        self.pool = pool
        switch lease {
        case .connection(let connection): current = connection
        case .newConnection: current = nil
        }
    }

    /// The slot's connection, if it has one.
    package var existingConnection: Connection? { current }

    /// The slot's connection; when it has none, one made by `open`.
    package func connection(
        opening open: () throws(StoreError) -> Connection
    ) throws(StoreError) -> Connection {
        if let current { return current }
        let opened = try open()
        current = opened
        return opened
    }

    /// Drops (and so closes) the slot's connection; the slot stays taken.
    package func discardConnection() {
        current = nil
    }

    /// Takes the pool's idle connections out and closes them (after a connection was
    /// found broken: the server may have restarted).
    package func closeIdleConnections() {
        pool.closeIdleConnections()
    }

    fileprivate func giveBack() {
        if let current {
            self.current = nil
            pool.release(current)
        } else {
            pool.releaseSlot()
        }
    }
}
