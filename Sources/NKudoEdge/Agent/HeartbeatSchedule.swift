/// When the next heartbeat goes out: the interval the control plane asks for, bounded to
/// a sane range and jittered so a fleet does not beat in lockstep; after failures an
/// exponential backoff with jitter up to a cap. Never zero (no busy loop, reference §11 #21).
public struct HeartbeatSchedule: Sendable {
    /// The bounds a configured or server-sent interval is clamped to.
    public static let intervalBounds: ClosedRange<Duration> = .seconds(1) ... .seconds(3600)

    /// The current base interval (before jitter).
    public private(set) var interval: Duration
    /// Consecutive failures since the last success.
    public private(set) var failures = 0
    private let jitter: Double
    private let initialBackoff: Duration
    private let maximumBackoff: Duration
    private let random: @Sendable (ClosedRange<Double>) -> Double

    /// A schedule starting at `interval`.
    ///
    /// - Parameters:
    ///   - interval: The starting interval (clamped to ``intervalBounds``).
    ///   - jitter: Fraction of the interval added or removed at random (0.1 = ±10 %).
    ///   - initialBackoff: Delay after the first failure.
    ///   - maximumBackoff: Cap of the backoff.
    ///   - random: Source of randomness (tests pin it).
    public init(interval: Duration, jitter: Double = 0.1, initialBackoff: Duration = .seconds(1),
                maximumBackoff: Duration = .seconds(60),
                random: @escaping @Sendable (ClosedRange<Double>) -> Double = { Double.random(in: $0) }) {
        self.interval = Self.clamp(interval)
        self.jitter = min(max(jitter, 0), 0.5)
        self.initialBackoff = max(initialBackoff, .milliseconds(100))
        self.maximumBackoff = max(maximumBackoff, self.initialBackoff)
        self.random = random
    }

    /// Records a successful heartbeat; a positive `serverSeconds` becomes the interval.
    ///
    /// - Returns: How long to wait before the next heartbeat.
    public mutating func succeeded(serverSeconds: Int32) -> Duration {
        failures = 0
        if serverSeconds > 0 {
            interval = Self.clamp(.seconds(Int64(serverSeconds)))
        }
        return interval * random((1 - jitter)...(1 + jitter))
    }

    /// Records a failed heartbeat.
    ///
    /// - Returns: How long to wait before trying again: `initialBackoff · 2^(n-1)` capped
    ///   at `maximumBackoff` and at the normal interval's double, then jittered down to half.
    public mutating func failed() -> Duration {
        failures += 1
        let cap = min(maximumBackoff, max(interval * 2, initialBackoff))
        var delay = initialBackoff
        for _ in 1..<min(failures, 32) where delay < cap {
            delay = delay * 2
        }
        return min(delay, cap) * random(0.5...1)
    }

    private static func clamp(_ value: Duration) -> Duration {
        min(max(value, intervalBounds.lowerBound), intervalBounds.upperBound)
    }
}
