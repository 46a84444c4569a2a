import Foundation
import HTTPTypes
import NKudoContract
import NKudoPKI
import NKudoStore
import NKudoSQL

/// `nkudo.v1.TenantService`: sites, enrollment tokens, plans and read models, each
/// scoped to the tenant of the caller's API key.
struct TenantServiceImplementation: TenantServiceHandler {
    let environment: ServiceEnvironment
    let defaultEnrollmentTTL: TimeInterval
    /// SHA-256 (hex) of the CA certificate agents are given, for pinning.
    let caFingerprint: String

    /// The caller's tenant; the path's tenant id must be exactly it.
    private func tenant(_ context: CallContext, matching pathTenantID: String) throws -> APIKeyRecord {
        let key = try context.caller.tenantKey()
        guard !pathTenantID.isBlank else { throw APIError.badRequest("tenant_id is required") }
        guard pathTenantID == key.tenantID else { throw APIError.forbidden("tenant mismatch") }
        return key
    }

    /// The site if it is the caller's tenant's (a malformed id is simply not found).
    private func site(_ context: CallContext, _ siteID: String) async throws -> (APIKeyRecord, Site) {
        let key = try context.caller.tenantKey()
        guard let id = Identifiers.canonicalUUID(siteID),
              let site = try await environment.store.site(id: id, tenantID: key.tenantID) else {
            throw APIError.notFound("site not found")
        }
        return (key, site)
    }

    func createSite(_ request: CreateSiteRequest, context: CallContext) async throws -> Site {
        let key = try tenant(context, matching: request.tenantId)
        guard !request.name.isBlank else { throw APIError.badRequest("name is required") }
        var countryCode: String?
        if !request.locationCountryCode.isEmpty {
            let code = request.locationCountryCode.uppercased()
            guard code.count == 2, code.unicodeScalars.allSatisfy({ ("A"..."Z").contains($0) }) else {
                throw APIError.badRequest("location_country_code must be two letters (ISO 3166-1 alpha-2)")
            }
            countryCode = code
        }
        let site = NewSite(id: SecureRandom.uuid(), tenantID: key.tenantID, name: request.name,
                           externalKey: request.externalKey.isEmpty ? nil : request.externalKey,
                           locationCountryCode: countryCode, createdAt: environment.now())
        let created = try await environment.store.createSite(site)
        await environment.audit(context, tenantID: key.tenantID, siteID: created.id, action: "site.create", resourceType: "site", resourceID: created.id)
        return created
    }

    func listSites(_ request: ListSitesRequest, context: CallContext) async throws -> ListSitesResponse {
        let key = try tenant(context, matching: request.tenantId)
        return ListSitesResponse(sites: try await environment.store.listSites(tenantID: key.tenantID))
    }

    func issueEnrollmentToken(_ request: IssueEnrollmentTokenRequest, context: CallContext) async throws -> IssueEnrollmentTokenResponse {
        let key = try tenant(context, matching: request.tenantId)
        guard Identifiers.canonicalUUID(request.siteId) != nil else { throw APIError.badRequest("invalid site_id") }
        let (_, site) = try await self.site(context, request.siteId)
        guard request.expiresInSeconds >= 0 else { throw APIError.badRequest("expires_in_seconds must not be negative") }
        let now = environment.now()
        let ttl = request.expiresInSeconds > 0 ? TimeInterval(request.expiresInSeconds) : defaultEnrollmentTTL
        let secret = SecureRandom.token()
        let token = NewEnrollmentToken(id: SecureRandom.uuid(), tenantID: key.tenantID, siteID: site.id, tokenHash: Digest.sha256Hex(secret),
                                       expiresAt: now.addingTimeInterval(ttl), createdAt: now)
        let record = try await environment.store.issueEnrollmentToken(token)
        await environment.audit(context, tenantID: key.tenantID, siteID: site.id, action: "enrollment_token.issue",
                                resourceType: "enrollment_token", resourceID: record.id)
        return IssueEnrollmentTokenResponse(tokenId: record.id, siteId: record.siteID, token: secret, expiresAt: record.expiresAt.protoTimestamp,
                                            oneTime: true, caFingerprintSha256: caFingerprint)
    }

    func applyPlan(_ request: ApplyPlanRequest, context: CallContext) async throws -> ApplyPlanResponse {
        let (key, site) = try await self.site(context, request.siteId)
        guard !request.idempotencyKey.isBlank else { throw APIError.badRequest("idempotency_key is required") }
        guard !request.actions.isEmpty else { throw APIError.badRequest("actions are required") }
        guard request.actions.count <= 100 else { throw APIError.badRequest("a plan has at most 100 actions") }
        var requestForHash = request
        requestForHash.siteId = ""
        let requestHash = Digest.sha256Hex(try requestForHash.serializedBytes())
        var operationIDs: Set<String> = []
        var actions: [NewPlan.Action] = []
        var siteImages: [HostImages]?
        for (index, action) in request.actions.enumerated() {
            let label = "actions[\(index)]"
            let operationID = action.operationId.isBlank ? SecureRandom.uuid() : action.operationId
            guard operationIDs.insert(operationID).inserted else {
                throw APIError.badRequest("\(label).operation_id \"\(operationID.prefix(64))\" is used twice in the plan")
            }
            var vmID = action.vmId
            switch action.operation {
            case .create:
                if vmID.isBlank { vmID = SecureRandom.uuid() }
            case .start, .stop, .delete:
                guard !vmID.isBlank else { throw APIError.badRequest("\(label).vm_id is required for \(action.operation)") }
            default:
                throw APIError.badRequest("\(label).operation must be CREATE, START, STOP or DELETE")
            }
            guard let canonicalVMID = Identifiers.canonicalUUID(vmID) else {
                throw APIError.badRequest("\(label).vm_id must be a UUID")
            }
            let name = action.name.isEmpty ? "vm-" + canonicalVMID.prefix(8) : action.name
            guard Names.isLabel(name) else {
                throw APIError.badRequest(
                    "\(label).name must be an RFC 1123 label: 1-63 letters, digits and '-', not starting or ending with '-'")
            }
            var boot: VMBootRequest?
            if action.operation == .create {
                guard action.vcpuCount <= MicroVMLimits.maximumVCPUs, action.memoryMib <= MicroVMLimits.maximumMemoryMiB else {
                    throw APIError.badRequest("\(label): at most \(MicroVMLimits.maximumVCPUs) vcpu_count and \(MicroVMLimits.maximumMemoryMiB) memory_mib")
                }
                let request = try VMBootRequest(action, label: label)
                if !request.namedImages.isEmpty {
                    if siteImages == nil {
                        siteImages = try await environment.store.listSiteImages(tenantID: key.tenantID, siteID: site.id)
                    }
                    try request.requireHost(among: siteImages ?? [], label: label)
                }
                boot = request
            }
            let payload = (try? action.jsonString()) ?? "{}"
            actions.append(NewPlan.Action(operationID: operationID, operation: action.operation, vmID: canonicalVMID, name: name,
                                          vcpuCount: max(action.vcpuCount, 1), memoryMiB: max(action.memoryMib, 128), payloadJSON: payload,
                                          image: boot?.image ?? "", kernel: boot?.kernel ?? "", initrd: boot?.initrd ?? ""))
        }
        let plan = NewPlan(planID: SecureRandom.uuid(), tenantID: key.tenantID, siteID: site.id, idempotencyKey: request.idempotencyKey,
                           requestHash: requestHash, clientRequestID: request.clientRequestId.isBlank ? nil : request.clientRequestId,
                           executionIDs: actions.map { _ in SecureRandom.uuid() }, actions: actions)
        let applied = try await environment.store.applyPlan(plan, now: environment.now())
        await environment.audit(context, tenantID: key.tenantID, siteID: site.id, action: "plan.apply", resourceType: "plan",
                                resourceID: applied.planID, metadata: AuditMetadata(deduplicated: applied.deduplicated))
        return ApplyPlanResponse(planId: applied.planID, planVersion: applied.planVersion, planStatus: applied.status,
                                 deduplicated: applied.deduplicated, executions: applied.executions)
    }

    func listPlans(_ request: ListPlansRequest, context: CallContext) async throws -> ListPlansResponse {
        let (key, site) = try await self.site(context, request.siteId)
        let limit = request.limit <= 0 ? 50 : min(Int(request.limit), 200)
        let page = try await environment.store.listPlans(tenantID: key.tenantID, siteID: site.id, limit: limit,
                                                         cursor: request.cursor.isEmpty ? nil : request.cursor)
        return ListPlansResponse(plans: page.plans, nextCursor: page.nextCursor)
    }

    func getPlan(_ request: GetPlanRequest, context: CallContext) async throws -> Plan {
        let key = try context.caller.tenantKey()
        let wait = try PlanWait(request.wait)
        let store = environment.store
        let notFound = APIError.notFound("plan not found")
        guard let planID = Identifiers.canonicalUUID(request.planId),
              let plan = try await store.plan(id: planID, tenantID: key.tenantID) else {
            throw notFound
        }
        return try await wait.plan(plan, isClientConnected: context.isClientConnected) {
            guard let current = try await store.plan(id: planID, tenantID: key.tenantID) else { throw notFound }
            return current
        }
    }

    func listHosts(_ request: ListHostsRequest, context: CallContext) async throws -> ListHostsResponse {
        let (key, site) = try await self.site(context, request.siteId)
        return ListHostsResponse(hosts: try await environment.store.listHosts(tenantID: key.tenantID, siteID: site.id))
    }

    func retireHost(_ request: RetireHostRequest, context: CallContext) async throws -> RetireHostResponse {
        let (key, site) = try await self.site(context, request.siteId)
        guard let hostID = Identifiers.canonicalUUID(request.hostId) else { throw APIError.notFound("host not found") }
        let retired = try await environment.store.retireHost(tenantID: key.tenantID, siteID: site.id, hostID: hostID, now: environment.now())
        await environment.audit(context, tenantID: key.tenantID, siteID: site.id, action: "host.retire", resourceType: "host",
                                resourceID: hostID, metadata: AuditMetadata(agentID: retired.agentID, releasedPlans: retired.releasedPlans))
        return RetireHostResponse(hostId: retired.hostID, agentId: retired.agentID, retiredAt: retired.retiredAt.protoTimestamp,
                                  releasedPlans: Int32(clamping: retired.releasedPlans))
    }

    func listMicroVMs(_ request: ListMicroVMsRequest, context: CallContext) async throws -> ListMicroVMsResponse {
        let (key, site) = try await self.site(context, request.siteId)
        return ListMicroVMsResponse(vms: try await environment.store.listMicroVMs(tenantID: key.tenantID, siteID: site.id))
    }

    func getMicroVM(_ request: GetMicroVMRequest, context: CallContext) async throws -> MicroVM {
        let (key, site) = try await self.site(context, request.siteId)
        guard let vmID = Identifiers.canonicalUUID(request.vmId),
              let vm = try await environment.store.microVM(tenantID: key.tenantID, siteID: site.id, vmID: vmID) else {
            throw APIError.notFound("vm not found")
        }
        return vm
    }

    func listSiteImages(_ request: ListSiteImagesRequest, context: CallContext) async throws -> ListSiteImagesResponse {
        let (key, site) = try await self.site(context, request.siteId)
        return ListSiteImagesResponse(hosts: try await environment.store.listSiteImages(tenantID: key.tenantID, siteID: site.id))
    }

    func getMicroVMConsole(_ request: GetMicroVMConsoleRequest, context: CallContext) async throws -> GetMicroVMConsoleResponse {
        let (key, site) = try await self.site(context, request.siteId)
        guard let vmID = Identifiers.canonicalUUID(request.vmId),
              let console = try await environment.store.microVMConsole(tenantID: key.tenantID, siteID: site.id, vmID: vmID) else {
            throw APIError.notFound("vm not found")
        }
        return console
    }

    func listExecutionLogs(_ request: ListExecutionLogsRequest, context: CallContext) async throws -> ListExecutionLogsResponse {
        let key = try context.caller.tenantKey()
        guard let executionID = Identifiers.canonicalUUID(request.executionId),
              try await environment.store.execution(id: executionID, tenantID: key.tenantID) != nil else {
            throw APIError.notFound("execution not found")
        }
        let limit = request.limit <= 0 ? 500 : min(Int(request.limit), 2000)
        let page = try await environment.store.listExecutionLogs(tenantID: key.tenantID, executionID: executionID, limit: limit,
                                              cursor: request.cursor.isEmpty ? nil : request.cursor)
        return ListExecutionLogsResponse(logs: page.logs, nextCursor: page.nextCursor)
    }

    func listAuditEvents(_ request: ListAuditEventsRequest, context: CallContext) async throws -> ListAuditEventsResponse {
        let key = try tenant(context, matching: request.tenantId)
        let since = try Self.time(request.since, field: "since")
        let until = try Self.time(request.until, field: "until")
        if let since, let until, since > until { throw APIError.badRequest("since must not be after until") }
        let limit = request.limit <= 0 ? 100 : min(Int(request.limit), 500)
        let page = try await environment.store.listAuditEvents(
            tenantID: key.tenantID, filter: AuditEventFilter(action: request.action.isEmpty ? nil : request.action, since: since, until: until),
            limit: limit, cursor: request.cursor.isEmpty ? nil : request.cursor)
        return ListAuditEventsResponse(events: page.events, nextCursor: page.nextCursor)
    }

    /// An RFC 3339 time of a query parameter; nil for `""`.
    private static func time(_ text: String, field: String) throws -> Date? {
        guard !text.isEmpty else { return nil }
        guard let timestamp = try? ProtoTimestamp(rfc3339: text) else {
            throw APIError.badRequest("\(field) must be an RFC 3339 time such as 2026-02-06T12:00:00Z, got \"\(text.prefix(64))\"")
        }
        return timestamp.date
    }

    func getStatus(_ request: GetStatusRequest, context: CallContext) async throws -> GetStatusResponse {
        let (key, site) = try await self.site(context, request.siteId)
        let store = environment.store
        return GetStatusResponse(
            site: site,
            hosts: try await store.listHosts(tenantID: key.tenantID, siteID: site.id),
            vms: try await store.listMicroVMs(tenantID: key.tenantID, siteID: site.id),
            recentExecutions: try await store.recentExecutions(tenantID: key.tenantID, siteID: site.id, limit: 50),
            recentLogs: try await store.recentLogs(tenantID: key.tenantID, siteID: site.id, limit: 100))
    }
}
