import NKudoContract
import ServiceLifecycle

/// The long poll of `GetPlan`: how long a caller may wait for a plan to finish, and the
/// waiting itself. The store is polled, so a plan finished through any replica ends the
/// wait; the wait also ends when the client goes away, the server shuts down or the
/// request's task is cancelled.
struct PlanWait: Sendable {
    /// How often the store is asked while waiting.
    static let pollInterval = Duration.milliseconds(250)

    /// How long to wait; zero answers at once.
    let duration: Duration

    /// The wait of `wait` (``RequestedWait``); anything malformed is a 400.
    init(_ text: String) throws(APIError) {
        duration = try RequestedWait(text).duration
    }

    /// The plan once it is finished or the wait is over: `fetch` is called every
    /// ``pollInterval`` until the plan it returns is finished, the wait has passed, the
    /// client disconnected (`isClientConnected`) or the server is shutting down.
    func plan(_ initial: Plan, isClientConnected: @Sendable () async -> Bool, fetch: () async throws -> Plan) async throws -> Plan {
        let deadline = ContinuousClock.now.advanced(by: duration)
        var plan = initial
        while !Self.isFinished(plan.status) {
            let remaining = ContinuousClock.now.duration(to: deadline)
            guard remaining > .zero, await isClientConnected(), !Task.isShuttingDownGracefully, !Task.isCancelled else { break }
            do {
                try await Task.sleep(for: min(remaining, Self.pollInterval))
            } catch {
                break
            }
            plan = try await fetch()
        }
        return plan
    }

    /// Whether a plan in this status no longer changes.
    static func isFinished(_ status: Plan.Status) -> Bool {
        status == .succeeded || status == .failed || status == .cancelled
    }
}
