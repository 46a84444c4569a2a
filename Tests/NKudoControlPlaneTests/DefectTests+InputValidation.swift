import ControlPlaneTestSupport
import Foundation
import NIOHTTP1
import NKudoContract
@testable import NKudoControlPlane
import NKudoStore
import Testing

extension DefectTests {
    /// Invalid input is a 400, never a 500 or a crash; ids are canonical.
    @Suite("input validation and ids")
    struct InputValidation {
        @Test("defect 22 and 10: unknown operations, missing or malformed vm ids are 400s, never a crash")
        func defect22() async throws {
            try await ControlPlaneHarness.withFleet { harness, fleet in
                let client = try harness.client()
                for body in [#"{"idempotency_key":"a","actions":[{"operation":"REBOOT"}]}"#,
                             #"{"idempotency_key":"b","actions":[{"operation":"START"}]}"#,
                             #"{"idempotency_key":"c","actions":[{"operation":"CREATE","vm_id":"abc"}]}"#,
                             #"{"idempotency_key":"d","actions":[{"operation":"STOP","vm_id":"\#(UUID().uuidString)"}]}"#] {
                    let response = try await harness.send(client, .POST, "/sites/\(fleet.site.id)/plans", body: Array(body.utf8),
                                                          headers: [("Content-Type", "application/json"), ("X-API-Key", fleet.apiKey)])
                    #expect(response.status == 400, "\(body): \(response.status) \(String(decoding: response.body, as: UTF8.self))")
                }
            }
        }

        @Test("defect 32: tenant and site validation answers 400, not 500")
        func defect32() async throws {
            try await ControlPlaneHarness.withFleet { harness, fleet in
                await #expect(throws: TestTransport.Failure.self) { try await fleet.admin.createTenant(CreateTenantRequest(slug: "x", name: "x", dataRetentionDays: 3)) }
                await #expect(throws: TestTransport.Failure.self) { try await fleet.admin.createTenant(CreateTenantRequest(slug: "Bad Slug!", name: "x")) }
                await #expect(throws: TestTransport.Failure.self) {
                    try await fleet.tenantClient.createSite(CreateSiteRequest(tenantId: fleet.tenant.id, name: "s", locationCountryCode: "CHE"))
                }
                for status in [await ControlPlaneFlowTests.status { try await fleet.admin.createTenant(CreateTenantRequest(slug: "x", name: "x", dataRetentionDays: 3)) }] {
                    #expect(status == 400)
                }
            }
        }

        @Test("defect 21 and 27: ids are canonical lowercase UUIDs; VM memory defaults to 128 MiB in plans and heartbeats")
        func defect21And27() async throws {
            try await ControlPlaneHarness.withFleet { harness, fleet in
                let applied = try await fleet.tenantClient.applyPlan(ApplyPlanRequest(siteId: fleet.site.id, idempotencyKey: "ids",
                                                                                      actions: [.init(operation: .create, name: "m")]))
                for id in [applied.planId] + applied.executions.map(\.id) + applied.executions.compactMap(\.vmId) {
                    #expect(id == UUID(uuidString: id)?.uuidString.lowercased(), "\(id)")
                }
                let vm = try #require(try await fleet.tenantClient.listMicroVMs(ListMicroVMsRequest(siteId: fleet.site.id)).vms.first)
                #expect(vm.memoryMib == 128)
                let reported = HeartbeatNormalizer.normalize(
                    HeartbeatRequest(microvms: [.init(id: vm.id, state: "running")]), agentID: "a", now: Date())
                #expect(reported.microVMs.first?.memoryMiB == 128)
            }
        }
    }
}
