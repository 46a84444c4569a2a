import NKudoStore
import ServiceLifecycle

/// The long poll of `NextPlans`: an agent waits for a plan of its site. Plans are leased at
/// once when some are ready; otherwise the poll sleeps until ``PlanArrivals`` reports a plan
/// applied to the site (through any replica), then leases again, until the wait is over.
/// Every ``checkInterval`` it also looks whether the client went away or the server is
/// shutting down: then it answers what it has (nothing), and leases nothing more.
struct PlanLongPoll: Sendable {
    /// How often a sleeping poll checks its client and the server's shutdown.
    static let checkInterval = Duration.seconds(1)

    /// How long to wait; zero leases once and answers.
    let duration: Duration
    /// The arrivals the poll sleeps on.
    let arrivals: PlanArrivals

    /// The plans `lease` returned first that were not empty, or `[]` when the wait ended
    /// without any.
    func plans<Plan: Sendable>(siteID: String, isClientConnected: @Sendable () async -> Bool,
                               lease: () async throws -> [Plan]) async throws -> [Plan] {
        let deadline = ContinuousClock.now.advanced(by: duration)
        while true {
            let mark = await arrivals.mark()
            let leased = try await lease()
            guard leased.isEmpty else { return leased }
            while true {
                guard ContinuousClock.now < deadline, !Task.isShuttingDownGracefully, !Task.isCancelled,
                      await isClientConnected() else { return [] }
                let slice = min(deadline, ContinuousClock.now.advanced(by: Self.checkInterval))
                if await arrivals.wait(siteID: siteID, since: mark, until: slice) { break }
            }
        }
    }
}
