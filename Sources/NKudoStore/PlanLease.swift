import NKudoContract

/// The lease of a plan as stored, and the rules of "a plan runs on one host at a time":
/// who may write the plan's progress, results and log lines, and which fencing token a
/// new lease gets. Pure: the store reads the columns, asks, and persists the answer.
///
/// - The lease belongs to `holder` until someone else takes it over; `expiresAt` only
///   says when someone else may. The holder keeps writing after its lease expired as long
///   as nobody took the plan, and its heartbeats extend the lease.
/// - `token` is the fencing token of the latest lease: 1 for the first, one more each
///   time another agent takes the plan. A claim with token 0 (agents older than fencing)
///   is judged by the holder alone.
/// - `tokenAgent` is the agent the latest token was granted to. It outlives the lease,
///   which is released when the plan finishes, so late log lines of the holder still count.
struct PlanLease: Sendable, Hashable {
    /// What a claim to write a plan's progress or results is worth.
    enum Verdict: Sendable, Hashable {
        /// The claimant holds the lease with that token: record what it says.
        case holder
        /// The plan is finished and the claimant held its latest lease: a replay of what it
        /// already reported; nothing to record, nothing to refuse.
        case finishedByClaimant
        /// The claimant holds no lease of the plan (any more).
        case refused(LeaseRejection.Reason, String)
    }

    var status: Plan.Status
    /// `lease_agent_id`: nil when the plan was never leased or is finished.
    var holder: String?
    /// `lease_token`.
    var token: Int64
    /// `lease_token_agent_id`.
    var tokenAgent: String?

    /// Whether `agent`, claiming `claimedToken`, may record execution progress or results.
    func admitsProgress(from agent: String, token claimedToken: Int64) -> Verdict {
        let tokenMatches = claimedToken == 0 || claimedToken == token
        if status.isTerminal {
            return tokenAgent == agent && tokenMatches ? .finishedByClaimant : .refused(.planFinished, "the plan is finished")
        }
        guard holder == agent else {
            return .refused(.notHolder, holder == nil ? "the plan is not leased to this agent" : "the plan is leased to another agent")
        }
        guard tokenMatches else {
            return .refused(.notHolder, "lease token \(claimedToken) is stale: the plan was leased again (token \(token))")
        }
        return .holder
    }

    /// Whether `agent` may add log lines written under `claimedToken`: it was given the
    /// plan's latest lease, finished or not.
    func admitsLogs(from agent: String, token claimedToken: Int64) -> Bool {
        tokenAgent == agent && (claimedToken == 0 || claimedToken == token)
    }

    /// The token of a lease granted to `agent` now: the same while `agent` is the holder
    /// (its lease is only extended or delivered again), else the next one.
    func tokenForLease(to agent: String) -> Int64 {
        holder == agent ? token : token + 1
    }
}
