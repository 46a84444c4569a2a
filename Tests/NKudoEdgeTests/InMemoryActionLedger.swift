import Foundation
import NKudoEdge

/// An ``ActionLedger`` in memory, for executor tests that do not need a state directory.
actor InMemoryActionLedger: ActionLedger {
    private var records: [String: LedgerEntry] = [:]

    func ledgerEntry(planID: String, actionID: String) -> LedgerEntry? {
        records[planID + "/" + actionID]
    }

    @discardableResult
    func recordLedgerStarted(planID: String, actionID: String, executionID: String, startedAt: Date) -> LedgerEntry {
        let entry = LedgerEntry(planID: planID, actionID: actionID, state: .started, executionID: executionID, startedAt: startedAt)
        records[planID + "/" + actionID] = entry
        return entry
    }

    @discardableResult
    func recordLedgerOutcome(planID: String, actionID: String, executionID: String, succeeded: Bool, errorCode: String?,
                             message: String, finishedAt: Date) -> LedgerEntry {
        let key = planID + "/" + actionID
        let entry = LedgerEntry(planID: planID, actionID: actionID, state: succeeded ? .succeeded : .failed, executionID: executionID,
                                errorCode: errorCode, message: message, startedAt: records[key]?.startedAt ?? finishedAt,
                                finishedAt: finishedAt)
        records[key] = entry
        return entry
    }

    /// Every record, in no particular order.
    var allEntries: [LedgerEntry] {
        Array(records.values)
    }
}
