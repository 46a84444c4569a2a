import Foundation

/// The rules for failed authentications, without I/O: a budget of failures per source and
/// window (past it the source is answered 429 until the window ends), and one audit event
/// per (source, RPC, reason) and window, carrying the count of its failures.
///
/// The caller performs the ``Action``s: it inserts an event and reports its id with
/// ``recorded(_:id:)``, and writes the counts ``pendingCounts()`` returns.
struct AuthFailureLedger: Sendable {
    /// What a failure asks the caller to do.
    enum Action: Sendable, Equatable {
        /// The first failure of its kind in the window: insert an audit event (count 1).
        case insert(Key)
        /// A repeat: counted into the window's event, written later.
        case count
    }

    /// The kind of a failure: one audit event per key and window.
    struct Key: Sendable, Hashable {
        var source: String
        var rpc: String
        var reason: String
    }

    /// The failures of one key in the current window.
    struct Aggregate: Sendable, Hashable {
        var windowStart: Date
        /// The audit event, once inserted.
        var auditID: Int64?
        var count: Int
        /// The count the stored event holds.
        var written: Int
    }

    /// Failures a source may have per window before it is refused (0: no limit).
    let limit: Int
    /// The window of the budget and of the aggregation.
    let window: TimeInterval
    /// Sources and keys remembered at most (beyond, windows that ended are forgotten first).
    let capacity: Int

    private var budgets: [String: (windowStart: Date, failures: Int)] = [:]
    private var aggregates: [Key: Aggregate] = [:]

    init(limit: Int, window: TimeInterval, capacity: Int = 10_000) {
        self.limit = limit
        self.window = window
        self.capacity = capacity
    }

    /// Seconds until `source` may try again, nil when it may now.
    func retryAfter(source: String, now: Date) -> Int? {
        guard limit > 0, let budget = budgets[source], budget.failures >= limit else { return nil }
        let remaining = budget.windowStart.addingTimeInterval(window).timeIntervalSince(now)
        return remaining > 0 ? Int(remaining.rounded(.up)) : nil
    }

    /// Counts a failure of `key`.
    mutating func fail(_ key: Key, now: Date) -> Action {
        forgetEndedWindows(now: now)
        if let budget = budgets[key.source], now.timeIntervalSince(budget.windowStart) < window {
            budgets[key.source] = (budget.windowStart, budget.failures + 1)
        } else {
            budgets[key.source] = (now, 1)
        }
        if var aggregate = aggregates[key], now.timeIntervalSince(aggregate.windowStart) < window {
            aggregate.count += 1
            aggregates[key] = aggregate
            return .count
        }
        aggregates[key] = Aggregate(windowStart: now, auditID: nil, count: 1, written: 1)
        return .insert(key)
    }

    /// The audit event of `key`'s window was inserted with `id`.
    mutating func recorded(_ key: Key, id: Int64) {
        aggregates[key]?.auditID = id
    }

    /// Events whose stored count is behind: (key, event id, count). The caller writes them
    /// and confirms each with ``written(_:count:)``.
    func pendingCounts() -> [(key: Key, id: Int64, count: Int)] {
        aggregates.compactMap { key, aggregate in
            guard let id = aggregate.auditID, aggregate.count > aggregate.written else { return nil }
            return (key, id, aggregate.count)
        }
    }

    /// The stored event of `key` holds `count`.
    mutating func written(_ key: Key, count: Int) {
        guard var aggregate = aggregates[key] else { return }
        aggregate.written = max(aggregate.written, count)
        aggregates[key] = aggregate
    }

    /// Keeps the memory bounded: past `capacity` entries, windows that ended (and whose
    /// counts are written) are dropped; if that is not enough, the oldest go.
    private mutating func forgetEndedWindows(now: Date) {
        if budgets.count > capacity {
            budgets = budgets.filter { now.timeIntervalSince($0.value.windowStart) < window }
            if budgets.count > capacity {
                let newest = budgets.sorted { $0.value.windowStart > $1.value.windowStart }.prefix(capacity / 2)
                budgets = Dictionary(uniqueKeysWithValues: newest.map { ($0.key, $0.value) })
            }
        }
        if aggregates.count > capacity {
            aggregates = aggregates.filter { now.timeIntervalSince($0.value.windowStart) < window || $0.value.count > $0.value.written }
            if aggregates.count > capacity {
                let newest = aggregates.sorted { $0.value.windowStart > $1.value.windowStart }.prefix(capacity / 2)
                aggregates = Dictionary(uniqueKeysWithValues: newest.map { ($0.key, $0.value) })
            }
        }
    }
}
