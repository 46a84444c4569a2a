import NKudoContract
import Testing

@testable import NKudoStore
import NKudoSQL
import SQLTestSupport

/// The rules of "a plan runs on one host at a time" (``PlanLease``), every transition.
@Suite("Plan lease rules")
struct PlanLeaseTests {
    typealias Row = (status: Plan.Status, holder: String?, token: Int64, tokenAgent: String?, claimant: String, claimed: Int64, verdict: String)

    static let progress: [Row] = [
        (.inProgress, "x", 3, "x", "x", 3, "holder"),
        (.inProgress, "x", 3, "x", "x", 0, "holder"),             // an agent older than fencing
        (.inProgress, "x", 3, "x", "x", 2, "refused NOT_HOLDER"), // stale token of its own
        (.inProgress, "x", 3, "x", "y", 3, "refused NOT_HOLDER"), // another agent, even with the token
        (.inProgress, "x", 3, "x", "y", 0, "refused NOT_HOLDER"),
        (.pending, nil, 0, nil, "x", 0, "refused NOT_HOLDER"),    // never leased
        (.succeeded, nil, 3, "x", "x", 3, "finished"),            // a replay of the finisher
        (.failed, nil, 3, "x", "x", 0, "finished"),
        (.succeeded, nil, 3, "x", "x", 2, "refused PLAN_FINISHED"),
        (.cancelled, nil, 3, "x", "y", 3, "refused PLAN_FINISHED"),
    ]

    static func describe(_ verdict: PlanLease.Verdict) -> String {
        switch verdict {
        case .holder: "holder"
        case .finishedByClaimant: "finished"
        case .refused(let reason, _): "refused \(reason)"
        }
    }

    @Test("who may record progress and results", arguments: progress.indices)
    func admitsProgress(_ index: Int) {
        let row = Self.progress[index]
        let lease = PlanLease(status: row.status, holder: row.holder, token: row.token, tokenAgent: row.tokenAgent)
        #expect(Self.describe(lease.admitsProgress(from: row.claimant, token: row.claimed)) == row.verdict, "row \(index)")
    }

    @Test("log lines: the agent given the latest lease, finished or not, with its token or none")
    func admitsLogs() {
        let finished = PlanLease(status: .succeeded, holder: nil, token: 2, tokenAgent: "x")
        #expect(finished.admitsLogs(from: "x", token: 2))
        #expect(finished.admitsLogs(from: "x", token: 0))
        #expect(!finished.admitsLogs(from: "x", token: 1))
        #expect(!finished.admitsLogs(from: "y", token: 2))
        #expect(!PlanLease(status: .pending, holder: nil, token: 0, tokenAgent: nil).admitsLogs(from: "x", token: 0))
    }

    @Test("tokens: the holder keeps its token; a takeover or a first lease gets the next one")
    func tokens() {
        #expect(PlanLease(status: .pending, holder: nil, token: 0, tokenAgent: nil).tokenForLease(to: "x") == 1)
        #expect(PlanLease(status: .inProgress, holder: "x", token: 1, tokenAgent: "x").tokenForLease(to: "x") == 1)
        #expect(PlanLease(status: .inProgress, holder: "x", token: 1, tokenAgent: "x").tokenForLease(to: "y") == 2)
        #expect(PlanLease(status: .inProgress, holder: nil, token: 4, tokenAgent: "x").tokenForLease(to: "x") == 5, "released (host retired)")
    }
}
