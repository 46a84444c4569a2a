import NKudoSQL
import Foundation
internal import Synchronization

/// When this process last advanced each site's `last_heartbeat_at`, so that the heartbeats
/// of a site's ONLINE agents send the (conditional) site update about once per
/// ``SQLStore/siteHeartbeatResolution`` instead of once per heartbeat: at 1,000 agents per
/// site that statement was one round trip of every heartbeat and wrote nothing 999 times
/// in 1,000 (README, Performance).
///
/// Only a hint: the update itself still writes only when the stored time is at least the
/// resolution behind, so several replicas, a rolled-back transaction or a restart make the
/// site lag by at most one more resolution, never go back. Bounded; emptied when full.
final class SiteHeartbeatClock: Sendable {
    static let limit = 100_000
    private let advanced = Mutex<[String: Int64]>([:])

    /// Whether a heartbeat of `siteID` at `now` should advance the site; when it should,
    /// `now` is recorded as the site's last advance.
    func shouldAdvance(_ siteID: String, to now: Date) -> Bool {
        let stamp = now.unixMicroseconds
        let resolution = Int64(SQLStore.siteHeartbeatResolution * 1_000_000)
        return advanced.withLock { advanced in
            if let last = advanced[siteID], stamp - last < resolution, stamp >= last {
                return false
            }
            if advanced.count >= Self.limit { advanced.removeAll(keepingCapacity: true) }
            advanced[siteID] = stamp
            return true
        }
    }
}
