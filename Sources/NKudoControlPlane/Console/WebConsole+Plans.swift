import Foundation
import HTTPTypes
import NKudoContract
import NKudoStore

/// The console's pages of plans (with their executions and logs), audit events and, for
/// the operator, tenants: the operator API's `ListPlans`, `GetPlan`, `ListExecutionLogs`,
/// `ListAuditEvents` and `ListTenants`, called as the session's caller.
extension WebConsole {
    /// Plans on the site page.
    static let recentPlanCount: Int32 = 10
    /// Plans per page of a site's plan list.
    static let planPageSize: Int32 = 20
    /// Audit events per page.
    static let auditPageSize: Int32 = 50
    /// Log lines shown per execution (newest first).
    static let logLinesShown: Int32 = 200

    /// The site page's most recent plans.
    func recentPlans(_ siteID: String, status: GetStatusResponse, call: CallContext) async throws -> [[String: Any]] {
        try await tenant.listPlans(ListPlansRequest(siteId: siteID, limit: Self.recentPlanCount), context: call).plans.map(Self.planRow)
    }

    /// The pages of plans, audit events and tenants; nil when `route` is none of them.
    func operatorPage(_ method: HTTPRequest.Method, _ route: ConsoleRoute, query: [String: String], session: ConsoleSession,
                      call: CallContext) async throws -> (Page, String)? {
        let fragment = query["fragment"] == "live"
        switch (method, route, session.caller) {
        case (.get, .sitePlans(let siteID), .tenant):
            let cursor = query["cursor"] ?? ""
            let page = try await tenant.listPlans(ListPlansRequest(siteId: siteID, limit: Self.planPageSize, cursor: cursor), context: call)
            let site = try await tenant.getStatus(GetStatusRequest(siteId: siteID), context: call).site
            let context: [String: Any] = [
                "siteID": site?.id ?? siteID, "plans": page.plans.map(Self.planRow), "first": !cursor.isEmpty,
                "nextQuery": page.nextCursor.map(ConsoleHTTP.queryValue) ?? false,
            ]
            return (self.page("plans", fragment: false, title: "Plans of \(site?.name ?? siteID)", session: session, context),
                    "GET /ui/sites/{id}/plans")
        case (.get, .plan(let planID), .tenant):
            return (try await planPage(planID, fragment: fragment, session: session, call: call), "GET /ui/plans/{id}")
        case (.get, .audit, .tenant(let key)):
            let action = query["action"] ?? ""
            let cursor = query["cursor"] ?? ""
            let page = try await tenant.listAuditEvents(ListAuditEventsRequest(tenantId: key.tenantID, action: action, limit: Self.auditPageSize,
                                                                               cursor: cursor), context: call)
            let context: [String: Any] = [
                "events": page.events.map(Self.auditRow), "action": action, "actionQuery": ConsoleHTTP.queryValue(action),
                "first": !cursor.isEmpty, "nextQuery": page.nextCursor.map(ConsoleHTTP.queryValue) ?? false,
            ]
            return (self.page("audit", fragment: false, title: "Audit events", session: session, context), "GET /ui/audit")
        case (.get, .admin, .admin):
            let tenants = try await admin.listTenants(ListTenantsRequest(), context: call).tenants
            return (self.page("admin", fragment: false, title: "Tenants", session: session, ["tenants": tenants.map(ConsoleViews.tenant)]),
                    "GET /ui/admin")
        default:
            return nil
        }
    }

    /// A plan with its executions in action order, each with its latest log lines.
    private func planPage(_ planID: String, fragment: Bool, session: ConsoleSession, call: CallContext) async throws -> Page {
        let plan = try await tenant.getPlan(GetPlanRequest(planId: planID), context: call)
        let vms = try await tenant.listMicroVMs(ListMicroVMsRequest(siteId: plan.siteId), context: call).vms
        let names = Dictionary(vms.map { ($0.id, $0.name) }, uniquingKeysWith: { first, _ in first })
        var executions: [[String: Any]] = []
        for execution in plan.executions {
            let logs = try await tenant.listExecutionLogs(ListExecutionLogsRequest(executionId: execution.id, limit: Self.logLinesShown),
                                                          context: call)
            let error = [execution.errorCode, execution.errorMessage].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ": ")
            executions.append([
                "id": execution.id, "operation": execution.operationType.description, "state": execution.state.description,
                "vmName": execution.vmId.flatMap { names[$0] } ?? ConsoleViews.text(execution.vmId), "error": error.isEmpty ? false : error,
                "started": ConsoleViews.time(execution.startedAt), "completed": ConsoleViews.time(execution.completedAt),
                "logs": logs.logs.map(ConsoleViews.log), "moreLogs": logs.nextCursor != nil,
            ])
        }
        var row = Self.planRow(plan)
        row["siteID"] = plan.siteId
        row["idempotencyKey"] = plan.idempotencyKey
        return page("plan", fragment: fragment, title: "Plan \(plan.id.prefix(8)) (version \(plan.version))", session: session,
                    ["plan": row, "executions": executions])
    }

    static func planRow(_ plan: Plan) -> [String: Any] {
        ["id": plan.id, "shortID": String(plan.id.prefix(8)), "version": plan.version, "status": plan.status.description,
         "actions": plan.executions.map { $0.operationType.description }.joined(separator: ", "),
         "created": ConsoleViews.time(plan.createdAt), "completed": ConsoleViews.time(plan.completedAt)]
    }

    static func auditRow(_ event: NKudoContract.AuditEvent) -> [String: Any] {
        ["time": ConsoleViews.time(event.occurredAt), "action": event.action,
         "actor": event.actorType.description + (event.actorId.map { " \($0.prefix(8))" } ?? ""),
         "resource": "\(event.resourceType) \(event.resourceId.prefix(36))", "source": ConsoleViews.text(event.sourceIp),
         "metadata": event.metadataJson]
    }
}
