import Foundation
import HTTPTypes
import NKudoContract

extension WebConsole {
    /// The site page's recent plans.
    func recentPlans(_ siteID: String, status: GetStatusResponse, call: CallContext) async throws -> [[String: Any]] {
        []
    }

    /// The pages of plans, audit events and tenants; nil when `route` is none of them.
    func operatorPage(_ method: HTTPRequest.Method, _ route: ConsoleRoute, query: [String: String], session: ConsoleSession,
                      call: CallContext) async throws -> (Page, String)? {
        nil
    }
}
