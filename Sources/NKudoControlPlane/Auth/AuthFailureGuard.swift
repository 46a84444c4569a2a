import Foundation
import Logging
import NKudoContract
import NKudoStore
import NKudoSQL
import ServiceLifecycle
import Synchronization

/// Failed authentications, per replica: a source past its budget is refused with 429 and
/// `Retry-After` until its window ends, and failures are audited as one `auth.failure`
/// event per (source, RPC, reason) and window whose metadata counts them. The counts are
/// written every few seconds by ``run()`` and once more at shutdown. The rules are
/// ``AuthFailureLedger``'s.
final class AuthFailureGuard: Service {
    private let ledger: Mutex<AuthFailureLedger>
    private let store: any Store
    private let now: @Sendable () -> Date
    private let flushInterval: Duration
    private let logger: Logger

    /// A guard allowing `limit` failures per source and `window` (0: no limit).
    init(limit: Int, window: Duration, store: any Store, now: @escaping @Sendable () -> Date, flushInterval: Duration = .seconds(5),
         logger: Logger) {
        ledger = Mutex(AuthFailureLedger(limit: limit, window: window.timeInterval))
        self.store = store
        self.now = now
        self.flushInterval = flushInterval
        self.logger = logger
    }

    /// Seconds until `source` may try again; nil when it may now.
    func retryAfter(source: String?) -> Int? {
        let date = now()
        return ledger.withLock { $0.retryAfter(source: Self.key(source), now: date) }
    }

    /// Counts a failure and audits it (the first of its kind in the window at once, the
    /// repeats as the count of that event).
    func fail(reason: String, rpc: String, requestID: String, source: String?, tenantID: String?) async {
        let date = now()
        let key = AuthFailureLedger.Key(source: Self.key(source), rpc: rpc, reason: reason)
        guard case .insert = ledger.withLock({ $0.fail(key, now: date) }) else { return }
        let event = NewAuditEvent(tenantID: tenantID, siteID: nil, actorType: .system, actorID: nil, action: "auth.failure", resourceType: "rpc",
                               resourceID: rpc, requestID: requestID, sourceIP: source, metadata: AuditMetadata(reason: reason, count: 1),
                               occurredAt: date)
        do {
            let id = try await store.recordAudit(event)
            ledger.withLock { $0.recorded(key, id: id) }
        } catch {
            logger.warning("audit event lost", metadata: [ControlPlaneLogKey.action: "auth.failure", ControlPlaneLogKey.error: "\(error)"])
        }
    }

    /// Writes the counts of repeated failures until cancelled, then once more.
    func run() async {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                guard (try? await Task.sleep(for: self.flushInterval)) != nil else { break }
                await self.flush()
            }
        }
        await flush()
    }

    /// Writes every count the stored events are behind on.
    func flush() async {
        for pending in ledger.withLock({ $0.pendingCounts() }) {
            do {
                try await store.updateAuditMetadata(id: pending.id, metadata: AuditMetadata(reason: pending.key.reason, count: pending.count))
                ledger.withLock { $0.written(pending.key, count: pending.count) }
            } catch {
                logger.warning("auth failure count not written", metadata: [ControlPlaneLogKey.error: "\(error)"])
                return
            }
        }
    }

    private static func key(_ source: String?) -> String { source ?? "unknown" }
}
