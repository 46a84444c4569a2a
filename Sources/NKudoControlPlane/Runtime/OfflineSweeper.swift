import Foundation
import Logging
import NKudoStore
import ServiceLifecycle

/// Marks silent agents OFFLINE and rolls sites up, every `interval`. Runs in every
/// replica; the store makes concurrent sweeps harmless.
struct OfflineSweeper: Service {
    let store: any Store
    let interval: Duration
    let offlineAfter: Duration
    let logger: Logger

    func run() async throws {
        // Graceful shutdown cancels the wait at once instead of letting a tick finish.
        await cancelWhenGracefulShutdown {
            await sweepUntilCancelled()
        }
    }

    private func sweepUntilCancelled() async {
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: interval)
            } catch {
                return
            }
            let now = Date()
            let cutoff = now.addingTimeInterval(-offlineAfter.timeInterval)
            do {
                let result = try await store.sweepOffline(cutoff: cutoff, now: now)
                if result.agentsMarkedOffline > 0 || result.sitesChanged > 0 {
                    logger.info("offline sweep", metadata: ["agents_offline": .stringConvertible(result.agentsMarkedOffline),
                                                            "sites_changed": .stringConvertible(result.sitesChanged)])
                }
            } catch {
                logger.error("offline sweep failed", metadata: ["error": .string(error.description)])
            }
        }
    }
}
