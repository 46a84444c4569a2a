import Foundation
import Logging
import NKudoStore
import NKudoSQL
import ServiceLifecycle

/// Marks silent agents OFFLINE and rolls sites up, every `interval`, and deletes audit
/// events older than `auditRetention` every ``purgeInterval``. Runs in every replica; the
/// store makes concurrent sweeps and purges harmless.
struct OfflineSweeper: Service {
    let store: any Store
    let interval: Duration
    let offlineAfter: Duration
    let auditRetention: Duration
    let logger: Logger

    /// How often audit events past their retention are deleted.
    static let purgeInterval: Duration = .seconds(600)

    func run() async throws {
        // Graceful shutdown cancels the wait at once instead of letting a tick finish.
        await cancelWhenGracefulShutdown {
            await sweepUntilCancelled()
        }
    }

    private func sweepUntilCancelled() async {
        var lastPurge: ContinuousClock.Instant?
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: interval)
            } catch {
                return
            }
            if lastPurge.map({ ContinuousClock.now - $0 >= Self.purgeInterval }) ?? true {
                lastPurge = ContinuousClock.now
                await purgeAudit()
            }
            let now = Date()
            let cutoff = now.addingTimeInterval(-offlineAfter.timeInterval)
            do {
                let result = try await store.sweepOffline(cutoff: cutoff, now: now)
                if result.agentsMarkedOffline > 0 || result.sitesChanged > 0 {
                    logger.info("offline sweep", metadata: [ControlPlaneLogKey.agentsOffline: .stringConvertible(result.agentsMarkedOffline),
                                                            ControlPlaneLogKey.sitesChanged: .stringConvertible(result.sitesChanged)])
                }
            } catch {
                logger.error("offline sweep failed", metadata: [ControlPlaneLogKey.error: .string(error.description)])
            }
        }
    }

    private func purgeAudit() async {
        do {
            _ = try await store.purgeAuditEvents(before: Date().addingTimeInterval(-auditRetention.timeInterval))
        } catch {
            logger.error("audit retention purge failed", metadata: [ControlPlaneLogKey.error: .string(error.description)])
        }
    }
}
