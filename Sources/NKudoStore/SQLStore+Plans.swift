public import NKudoSQL
public import Foundation
import Logging
import NKudoContract

// Applying plans: validation, VM upserts, idempotency, versions.
extension SQLStore {
    /// Applies a plan under the site's row lock. Errors: `.notFound` for a site of another
    /// tenant; `.invalid` (naming the action index) for no actions, a missing or unknown
    /// operation, a duplicate operation id, a missing VM id, or a START/STOP/DELETE whose
    /// VM is not a (non-DELETED) VM of the site or created earlier in the plan, or VMs on
    /// more than one host (a plan runs on one host);
    /// `.conflict` for a reused idempotency key with another request hash, a CREATE of
    /// another site's VM, or a VM name in use in the site.
    public func applyPlan(_ plan: NewPlan, now: Date) async throws(StoreError) -> AppliedPlan {
        let actions = try Self.validateShape(of: plan)
        let dialect = self.dialect
        let applied = try await database.withTransaction { connection throws(StoreError) -> AppliedPlan in
            // The site row lock serializes applies of one site across replicas: the
            // idempotency lookup below then sees every committed plan of the site, and the
            // version allocation is gap-free.
            let site = try connection.query(
                SQLStatement(
                    raw: "SELECT id FROM sites WHERE id = $1 AND tenant_id = $2 \(dialect.lockClause(.update))",
                    [.text(plan.siteID), .text(plan.tenantID)]
                )
            )
            guard !site.isEmpty else { throw StoreError(.notFound, "site not found") }
            if let stored = try Self.storedPlan(for: plan, on: connection) {
                return stored
            }
            try Self.checkVMs(of: actions, plan: plan, on: connection)
            let version = try connection.query(
                SQLStatement(
                    raw: "SELECT COALESCE(MAX(plan_version), 0) + 1 AS next FROM plans WHERE site_id = $1",
                    [.text(plan.siteID)]
                )
            ).first?.int64("next") ?? 1
            let inserted = try connection.query(
                SQLStatement(
                    raw: """
                        INSERT INTO plans (id, tenant_id, site_id, idempotency_key, request_hash, client_request_id, plan_version,
                                           status, created_at, updated_at)
                        VALUES ($1, $2, $3, $4, $5, $6, $7, 'PENDING', $8, $9)
                        ON CONFLICT (tenant_id, site_id, idempotency_key) DO NOTHING
                        RETURNING id
                        """,
                    [
                        .text(plan.planID), .text(plan.tenantID), .text(plan.siteID), .text(plan.idempotencyKey),
                        .text(plan.requestHash), .nonBlank(plan.clientRequestID), .int(version), .timestamp(now), .timestamp(now),
                    ]
                )
            )
            guard !inserted.isEmpty else {
                // Only without the site lock could another apply have used the key since
                // the lookup above; the unique key still decides.
                guard let stored = try Self.storedPlan(for: plan, on: connection) else {
                    throw StoreError(.database, "the idempotency key is taken but its plan is not visible")
                }
                return stored
            }
            for (ordinal, action) in actions.enumerated() {
                if action.operation == .create {
                    try Self.upsertVM(for: action, plan: plan, now: now, on: connection)
                }
                try connection.execute(
                    SQLStatement(
                        raw: """
                            INSERT INTO executions (id, tenant_id, site_id, plan_id, ordinal, operation_id, operation_type, vm_id,
                                                    vm_name, vcpu_count, memory_mib, payload_json, state, created_at, updated_at)
                            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'PENDING', $13, $14)
                            """,
                        [
                            .text(plan.executionIDs[ordinal]), .text(plan.tenantID), .text(plan.siteID), .text(plan.planID),
                            .int(Int64(ordinal)), .text(action.operationID), .stored(action.operation), .text(action.vmID),
                            .text(action.name), .int(Int64(action.vcpuCount)), .int(action.memoryMiB), .text(action.payloadJSON),
                            .timestamp(now), .timestamp(now),
                        ]
                    )
                )
            }
            if dialect == .postgres {
                // Delivered to every replica's listener when the transaction commits.
                _ = try connection.query(SQLStatement(raw: "SELECT pg_notify($1, $2) AS sent", [.text(Self.planChannel), .text(plan.siteID)]))
            }
            return AppliedPlan(
                planID: plan.planID,
                planVersion: version,
                status: .pending,
                deduplicated: false,
                executions: try Self.executions(ofPlan: plan.planID, on: connection)
            )
        }
        if !applied.deduplicated {
            await planArrivals.signal(siteID: plan.siteID)
        }
        logger.info(
            applied.deduplicated ? "plan deduplicated" : "plan applied",
            metadata: [
                StoreLogKey.tenantID: "\(plan.tenantID)", StoreLogKey.siteID: "\(plan.siteID)",
                StoreLogKey.planID: "\(applied.planID)", StoreLogKey.planVersion: "\(applied.planVersion)",
                StoreLogKey.count: "\(applied.executions.count)",
            ]
        )
        return applied
    }

    // MARK: Applying

    /// A plan action after validation and defaults.
    struct ResolvedAction: Sendable {
        var operationID: String
        var operation: Execution.Operation
        var vmID: String
        var name: String
        var vcpuCount: Int32
        var memoryMiB: Int64
        var payloadJSON: String
        var image: String
        var kernel: String
        var initrd: String
    }

    /// Checks what needs no database: at least one action, one execution id per action,
    /// known operations, operation ids unique and present, a VM id on every action.
    /// CREATE gets its defaults (name `vm-` + up to 8 characters of the id, ≥ 1 vCPU,
    /// ≥ 128 MiB).
    private static func validateShape(of plan: NewPlan) throws(StoreError) -> [ResolvedAction] {
        guard !plan.actions.isEmpty else { throw StoreError(.invalid, "a plan needs at least one action") }
        guard plan.executionIDs.count == plan.actions.count else {
            throw StoreError(.invalid, "a plan needs one execution id per action")
        }
        guard Set(plan.executionIDs).count == plan.executionIDs.count else {
            throw StoreError(.invalid, "execution ids must be distinct")
        }
        var operationIDs = Set<String>()
        var resolved: [ResolvedAction] = []
        for (index, action) in plan.actions.enumerated() {
            guard action.operation.storedName != nil else {
                throw StoreError(.invalid, "action \(index): unknown operation")
            }
            guard let operationID = action.operationID.nonBlank else {
                throw StoreError(.invalid, "action \(index): operation_id is required")
            }
            guard operationIDs.insert(operationID).inserted else {
                throw StoreError(.invalid, "action \(index): operation_id \(operationID) is used twice in the plan")
            }
            guard let vmID = action.vmID.nonBlank else {
                throw StoreError(.invalid, "action \(index) (\(action.operation)): vm_id is required")
            }
            let isCreate = action.operation == .create
            resolved.append(
                ResolvedAction(
                    operationID: operationID,
                    operation: action.operation,
                    vmID: vmID,
                    name: isCreate ? (action.name.nonBlank ?? "vm-\(vmID.prefix(8))") : "",
                    vcpuCount: isCreate ? max(action.vcpuCount, 1) : 0,
                    memoryMiB: isCreate ? max(action.memoryMiB, 128) : 0,
                    payloadJSON: action.payloadJSON.nonBlank ?? "{}",
                    image: isCreate ? action.image : "", kernel: isCreate ? action.kernel : "", initrd: isCreate ? action.initrd : ""
                )
            )
        }
        return resolved
    }

    /// Checks the actions' VMs against the site, in submission order: a CREATE must not
    /// name another site's (or tenant's) VM nor take a name in use (`.conflict`); START,
    /// STOP and DELETE must name a VM of the site that exists and is not DELETED, or one an
    /// earlier CREATE of the plan creates (`.invalid`).
    private static func checkVMs(of actions: [ResolvedAction], plan: NewPlan, on connection: any SQLConnection) throws(StoreError) {
        var createdVMs = Set<String>()
        var createdNames: [String: String] = [:]
        var hosts: [String: String] = [:]
        for (index, action) in actions.enumerated() {
            let rows = try connection.query(
                SQLStatement(raw: "SELECT tenant_id, site_id, host_id, state FROM microvms WHERE id = $1", [.text(action.vmID)])
            )
            var inSite: Bool?
            if let row = rows.first {
                let tenantID = try row.text("tenant_id")
                let siteID = try row.text("site_id")
                inSite = tenantID == plan.tenantID && siteID == plan.siteID
                if inSite == true, let hostID = try row.optionalText("host_id") {
                    hosts[hostID] = action.vmID
                }
            }
            if action.operation == .create {
                if inSite == false {
                    throw StoreError(.conflict, "action \(index) (CREATE): VM \(action.vmID) belongs to another site")
                }
                if let other = createdNames[action.name], other != action.vmID {
                    throw StoreError(.conflict, "action \(index) (CREATE): the plan creates two VMs named \(action.name)")
                }
                let taken = try connection.query(
                    SQLStatement(
                        raw: """
                            SELECT id FROM microvms
                            WHERE tenant_id = $1 AND site_id = $2 AND name = $3 AND id <> $4 AND state <> 'DELETED'
                            """,
                        [.text(plan.tenantID), .text(plan.siteID), .text(action.name), .text(action.vmID)]
                    )
                )
                guard taken.isEmpty else {
                    throw StoreError(.conflict, "action \(index) (CREATE): a VM named \(action.name) already exists in the site")
                }
                createdVMs.insert(action.vmID)
                createdNames[action.name] = action.vmID
            } else if !createdVMs.contains(action.vmID) {
                guard inSite == true, let row = rows.first else {
                    throw StoreError(.invalid, "action \(index) (\(action.operation)): vm_id \(action.vmID) does not name a VM of the site")
                }
                guard try row.text("state") != "DELETED" else {
                    throw StoreError(.invalid, "action \(index) (\(action.operation)): VM \(action.vmID) is deleted")
                }
            }
        }
        // A plan runs on one host: the host its VMs are on.
        guard hosts.count <= 1 else {
            throw StoreError(.invalid, "the plan's VMs live on different hosts (\(hosts.values.sorted().joined(separator: ", "))): apply one plan per host")
        }
    }

    /// The stored plan of the request's idempotency key, deduplicated, or `nil`;
    /// `.conflict` when the key was used for a different request.
    private static func storedPlan(for plan: NewPlan, on connection: any SQLConnection) throws(StoreError) -> AppliedPlan? {
        let rows = try connection.query(
            SQLStatement(
                raw: """
                    SELECT id, plan_version, status, request_hash FROM plans
                    WHERE tenant_id = $1 AND site_id = $2 AND idempotency_key = $3
                    """,
                [.text(plan.tenantID), .text(plan.siteID), .text(plan.idempotencyKey)]
            )
        )
        guard let row = rows.first else { return nil }
        guard try row.text("request_hash") == plan.requestHash else {
            throw StoreError(.conflict, "idempotency_key was already used for a different request on this site")
        }
        let planID = try row.text("id")
        return AppliedPlan(
            planID: planID,
            planVersion: try row.int64("plan_version"),
            status: try row.stored("status"),
            deduplicated: true,
            executions: try executions(ofPlan: planID, on: connection)
        )
    }

    /// Creates the VM of a CREATE, or updates its name and size when it exists in the site
    /// (a DELETED VM is created again). Never touches another site's VM.
    private static func upsertVM(for action: ResolvedAction, plan: NewPlan, now: Date, on connection: any SQLConnection) throws(StoreError) {
        let rows = try connection.query(
            SQLStatement(
                raw: """
                    INSERT INTO microvms (id, tenant_id, site_id, name, state, vcpu_count, memory_mib, last_transition_at,
                                          created_at, updated_at, image, kernel, initrd)
                    VALUES ($1, $2, $3, $4, 'CREATING', $5, $6, $7, $8, $9, $10, $11, $12)
                    ON CONFLICT (id) DO UPDATE SET
                        name = excluded.name,
                        vcpu_count = excluded.vcpu_count,
                        memory_mib = excluded.memory_mib,
                        image = excluded.image,
                        kernel = excluded.kernel,
                        initrd = excluded.initrd,
                        state = CASE WHEN microvms.state = 'DELETED' THEN 'CREATING' ELSE microvms.state END,
                        last_transition_at = CASE WHEN microvms.state = 'DELETED' THEN excluded.last_transition_at
                                                  ELSE microvms.last_transition_at END,
                        updated_at = excluded.updated_at
                    WHERE microvms.tenant_id = excluded.tenant_id AND microvms.site_id = excluded.site_id
                    RETURNING id
                    """,
                [
                    .text(action.vmID), .text(plan.tenantID), .text(plan.siteID), .text(action.name),
                    .int(Int64(action.vcpuCount)), .int(action.memoryMiB), .timestamp(now), .timestamp(now), .timestamp(now),
                    .text(action.image), .text(action.kernel), .text(action.initrd),
                ]
            )
        )
        guard !rows.isEmpty else {
            throw StoreError(.conflict, "VM \(action.vmID) belongs to another site")
        }
    }

    /// The executions of a plan in submission order.
    static func executions(ofPlan planID: String, on connection: any SQLConnection) throws(StoreError) -> [Execution] {
        try connection.query(
            SQLStatement(raw: "SELECT \(StoreColumns.execution) FROM executions WHERE plan_id = $1 ORDER BY ordinal", [.text(planID)])
        ).map { row throws(StoreError) in try Execution(row: row) }
    }
}
