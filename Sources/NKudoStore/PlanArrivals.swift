/// Wakes the long polls of agents (`NextPlans` with a wait) when a plan may have become
/// ready for their site: a plan applied through this process, or through another replica
/// (PostgreSQL `NOTIFY`).
///
/// A caller takes a ``mark()`` before it looks for plans and waits ``wait(siteID:since:until:)``
/// from that mark, so an arrival between the look and the wait is never missed. Arrivals
/// of one site are counted per site; an arrival for every site (the listening session
/// was re-opened and may have missed some) wakes everybody.
public actor PlanArrivals {
    /// A point in the sequence of arrivals.
    public struct Mark: Sendable, Hashable {
        fileprivate let value: UInt64
    }

    private var counter: UInt64 = 0
    /// The counter value of each site's latest arrival.
    private var latestBySite: [String: UInt64] = [:]
    /// The counter value of the latest arrival for every site.
    private var latestForAll: UInt64 = 0
    /// The waits in progress: registered, then parked on a continuation.
    private var waits: [UInt64: Wait] = [:]
    private var nextWait: UInt64 = 0

    private struct Wait {
        let siteID: String
        var continuation: CheckedContinuation<Void, Never>?
    }

    /// No arrivals yet.
    public init() {}

    /// The current point in the sequence of arrivals.
    public func mark() -> Mark {
        Mark(value: counter)
    }

    /// A plan may have become ready for `siteID`, or for every site when nil: ends the
    /// waits of that site.
    public func signal(siteID: String?) {
        counter += 1
        if let siteID {
            latestBySite[siteID] = counter
        } else {
            latestForAll = counter
            latestBySite.removeAll()
        }
        for (id, wait) in waits where siteID == nil || wait.siteID == siteID {
            waits[id] = nil
            wait.continuation?.resume()
        }
    }

    /// Returns once a plan may have become ready for `siteID` after `mark` (at once when
    /// one has), at `deadline`, or when the calling task is cancelled.
    ///
    /// - Returns: Whether a plan may have become ready for `siteID` after `mark`.
    @discardableResult
    public func wait(siteID: String, since mark: Mark, until deadline: ContinuousClock.Instant) async -> Bool {
        guard !hasArrival(for: siteID, after: mark) else { return true }
        guard ContinuousClock.now < deadline else { return false }
        let id = nextWait
        nextWait += 1
        waits[id] = Wait(siteID: siteID)
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.park(id) }
            group.addTask { try? await Task.sleep(until: deadline, clock: .continuous) }
            await group.next()
            group.cancelAll()
            self.end(id)
        }
        return hasArrival(for: siteID, after: mark)
    }

    private func hasArrival(for siteID: String, after mark: Mark) -> Bool {
        latestForAll > mark.value || (latestBySite[siteID] ?? 0) > mark.value
    }

    /// Waits for wait `id` to end; at once when it has ended already.
    private func park(_ id: UInt64) async {
        await withCheckedContinuation { continuation in
            if waits[id] != nil {
                waits[id]?.continuation = continuation
            } else {
                continuation.resume()
            }
        }
    }

    /// Ends wait `id` (its deadline passed, its task was cancelled, or it was signalled).
    private func end(_ id: UInt64) {
        waits.removeValue(forKey: id)?.continuation?.resume()
    }
}
