import Foundation

/// The heartbeat sequence numbers of an agent (`heartbeat_seq`): a counter, one more per
/// heartbeat, that never goes back — not across restarts (numbers are reserved in the
/// state store in blocks before they are used, and a restart continues above the last
/// reservation) and not when the clock steps back (the clock is read once, to start an
/// agent that has no reservation yet above the wall-clock milliseconds agents numbered
/// their heartbeats with before). When the control plane has seen a higher number (a
/// state directory restored from a backup) the counter continues above it.
struct HeartbeatSequence: Sendable, Hashable {
    /// Numbers reserved at a time.
    static let block: Int64 = 1000

    /// The last number used (or skipped).
    private(set) var last: Int64
    /// The highest reserved number.
    private(set) var ceiling: Int64

    /// Continues above `storedCeiling`, or, without one, above the wall-clock milliseconds of `now`.
    init(storedCeiling: Int64?, now: Date) {
        last = storedCeiling ?? Int64(now.timeIntervalSince1970 * 1000)
        ceiling = last
    }

    /// The next number, and the ceiling to reserve before using it when it lies above the
    /// reserved block (nil: none needed).
    mutating func next() -> (value: Int64, reserve: Int64?) {
        last += 1
        guard last > ceiling else { return (last, nil) }
        ceiling = last + Self.block - 1
        return (last, ceiling)
    }

    /// The control plane's highest number for this agent: the next one is above it.
    /// Returns the ceiling to reserve at once when that lies above the reserved block (so a
    /// restart continues above it too), nil when none is needed.
    mutating func continueAbove(_ serverSequence: Int64) -> Int64? {
        guard serverSequence > last else { return nil }
        last = serverSequence
        guard last >= ceiling else { return nil }
        ceiling = last + Self.block
        return ceiling
    }
}
