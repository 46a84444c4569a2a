import NIOCore
import NIOPosix
import Synchronization

/// Cancels request-body reads that run past their deadline (`HTTP_READ_TIMEOUT`), found by
/// one repeated event-loop task that looks every `resolution`.
///
/// Before, each read scheduled an event-loop timer of its own and cancelled it again, both
/// from the request's thread: two wake-ups of an event loop per request, ~3 % of the
/// control plane's CPU per heartbeat (README, Performance). Now a read registers and ends
/// with two look-ups of a locked table, and one that overruns is cancelled at most
/// `resolution` after its deadline.
final class BodyReadDeadlines: Sendable {
    /// The process's deadlines, looked at four times a second once the first is registered.
    static let shared = BodyReadDeadlines(resolution: .milliseconds(250))

    private struct Entry {
        let deadline: NIODeadline
        let cancel: @Sendable () -> Void
    }

    private struct State {
        var nextKey: UInt64 = 0
        var entries: [UInt64: Entry] = [:]
        var sweeping = false
    }

    private let state = Mutex(State())
    private let resolution: TimeAmount

    /// Deadlines looked at every `resolution`.
    init(resolution: TimeAmount) {
        self.resolution = resolution
    }

    /// Calls `cancel` (once, on an event loop) when `deadline` passes before ``end(_:)``
    /// is called with the returned key.
    func register(deadline: NIODeadline, cancel: @escaping @Sendable () -> Void) -> UInt64 {
        let (key, startSweeping) = state.withLock { state in
            state.nextKey += 1
            state.entries[state.nextKey] = Entry(deadline: deadline, cancel: cancel)
            defer { state.sweeping = true }
            return (state.nextKey, !state.sweeping)
        }
        if startSweeping {
            // Ends with the table (the shared one lives as long as the process).
            MultiThreadedEventLoopGroup.singleton.any().scheduleRepeatedTask(initialDelay: resolution, delay: resolution) { [weak self] repeated in
                guard let self else { return repeated.cancel() }
                self.cancelOverdue()
            }
        }
        return key
    }

    /// The read registered under `key` ended: its deadline no longer counts.
    func end(_ key: UInt64) {
        _ = state.withLock { $0.entries.removeValue(forKey: key) }
    }

    private func cancelOverdue() {
        let now = NIODeadline.now()
        let overdue = state.withLock { state in
            let overdue = state.entries.filter { $0.value.deadline <= now }
            for key in overdue.keys { state.entries[key] = nil }
            return overdue.values.map(\.cancel)
        }
        for cancel in overdue { cancel() }
    }
}
