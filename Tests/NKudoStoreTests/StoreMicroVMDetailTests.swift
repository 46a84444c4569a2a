import Foundation
import NKudoContract
import Testing

@testable import NKudoStore
import NKudoSQL
import SQLTestSupport

/// What a VM runs and why it is in its state (schema 5): images named at apply time, state
/// reasons, hypervisors, console tails and the hosts' image catalogs.
extension StoreTests {
    static let catalog = HeartbeatRequest.ImageCatalog(
        images: [
            Image(name: "guest.raw", digest: "sha256:" + String(repeating: "a", count: 64), sizeBytes: 8 << 20, kind: .disk),
            Image(name: "vmlinuz", digest: "sha256:" + String(repeating: "b", count: 64), sizeBytes: 7 << 20, kind: .kernel),
        ],
        kernelArgKeys: ["console", "ip"])

    @Test("a heartbeat's image catalog replaces the host's, its VM reports record reason, hypervisor and console, FAILED included",
          arguments: testedDialects)
    func reportsWhatVMsRun(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let store = fixture.store
            let world = try await fixture.world()
            let vmID = StoreFixture.id()
            var action = StoreFixture.action(.create, vm: vmID, operationID: "c")
            action.image = "guest.raw"
            action.kernel = "vmlinuz"
            _ = try await fixture.applyLeased(world, [action])
            try await fixture.execute("UPDATE microvms SET host_id = $1 WHERE id = $2", [.text(world.agent.hostID), .text(vmID)])

            var heartbeat = fixture.heartbeat(world.agent.agentID, vms: [
                HeartbeatIngest.ReportedVM(id: vmID, name: "vm", state: .running, vcpuCount: 1, memoryMiB: 256, updatedAt: StoreFixture.at(1),
                                           stateReason: "", hypervisor: "qemu", consoleTail: "NKUDO-GUEST-BOOTED\n"),
            ])
            heartbeat.imageCatalog = Self.catalog
            heartbeat.hypervisors = ["cloud-hypervisor", "qemu"]
            heartbeat.hypervisor = "qemu"
            _ = try await store.ingestHeartbeat(heartbeat, lease: StoreFixture.lease, now: StoreFixture.at(1))

            let images = try await store.listSiteImages(tenantID: world.tenantID, siteID: world.siteID)
            #expect(images.count == 1 && images[0].images.map(\.name) == ["guest.raw", "vmlinuz"] && images[0].kernelArgKeys == ["console", "ip"])
            #expect(images[0].agentState == .online && images[0].updatedAt != nil)
            let host = try await store.listHosts(tenantID: world.tenantID, siteID: world.siteID)[0]
            #expect(host.hypervisors == ["cloud-hypervisor", "qemu"] && host.hypervisor == "qemu")
            var vm = try #require(try await fixture.microVM(vmID, world: world))
            #expect(vm.state == .running && vm.hypervisor == "qemu" && vm.image == "guest.raw" && vm.kernel == "vmlinuz" && vm.initrd == "")
            let console = try #require(try await store.microVMConsole(tenantID: world.tenantID, siteID: world.siteID, vmID: vmID))
            #expect(console.console == "NKUDO-GUEST-BOOTED\n" && console.updatedAt != nil)

            // A heartbeat without catalog or console keeps both; a panicked guest is FAILED with its reason.
            let updatedAt = vm.updatedAt
            _ = try await store.ingestHeartbeat(fixture.heartbeat(world.agent.agentID, vms: [
                HeartbeatIngest.ReportedVM(id: vmID, name: "vm", state: .running, vcpuCount: 1, memoryMiB: 256, updatedAt: StoreFixture.at(1),
                                           hypervisor: "qemu"),
            ]), lease: StoreFixture.lease, now: StoreFixture.at(2))
            #expect(try await store.listSiteImages(tenantID: world.tenantID, siteID: world.siteID)[0].images.count == 2)
            #expect(try await store.microVMConsole(tenantID: world.tenantID, siteID: world.siteID, vmID: vmID)?.console == "NKUDO-GUEST-BOOTED\n")
            #expect(try await fixture.microVM(vmID, world: world)?.updatedAt == updatedAt, "an unchanged report changes nothing")
            _ = try await store.ingestHeartbeat(fixture.heartbeat(world.agent.agentID, vms: [
                HeartbeatIngest.ReportedVM(id: vmID, name: "vm", state: .failed, vcpuCount: 1, memoryMiB: 256, updatedAt: StoreFixture.at(3),
                                           stateReason: "guest kernel panic: Kernel panic - not syncing: Attempted to kill init!",
                                           hypervisor: "qemu", consoleTail: "Kernel panic - not syncing: Attempted to kill init!\n"),
            ]), lease: StoreFixture.lease, now: StoreFixture.at(3))
            vm = try #require(try await fixture.microVM(vmID, world: world))
            #expect(vm.state == .failed && vm.stateReason.hasPrefix("guest kernel panic"))

            // An empty catalog replaces it; another tenant sees no console.
            var empty = fixture.heartbeat(world.agent.agentID)
            empty.imageCatalog = HeartbeatRequest.ImageCatalog()
            _ = try await store.ingestHeartbeat(empty, lease: StoreFixture.lease, now: StoreFixture.at(4))
            #expect(try await store.listSiteImages(tenantID: world.tenantID, siteID: world.siteID)[0].images.isEmpty)
            let other = try await fixture.world()
            #expect(try await store.microVMConsole(tenantID: other.tenantID, siteID: other.siteID, vmID: vmID) == nil)
        }
    }

    @Test("a CREATE naming images is leased only to an agent whose host reported them", arguments: testedDialects)
    func createGoesWhereItsImagesAre(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let store = fixture.store
            let world = try await fixture.world()
            let other = try await fixture.agent(tenantID: world.tenantID, siteID: world.siteID)
            var action = StoreFixture.action(.create, vm: StoreFixture.id(), operationID: "c")
            action.image = "sha256:" + String(repeating: "a", count: 64)
            action.kernel = "vmlinuz"
            let plan = try await fixture.apply(world, [action])
            #expect(try await store.leasePlans(agentID: other.agentID, lease: StoreFixture.lease, now: StoreFixture.at(1)).isEmpty,
                    "the other host has none of the images")
            #expect(try await store.leasePlans(agentID: world.agent.agentID, lease: StoreFixture.lease, now: StoreFixture.at(1)).isEmpty,
                    "no host has reported them yet")
            var heartbeat = fixture.heartbeat(world.agent.agentID)
            heartbeat.imageCatalog = Self.catalog
            let outcome = try await store.ingestHeartbeat(heartbeat, lease: StoreFixture.lease, now: StoreFixture.at(2))
            #expect(outcome.leased.map(\.planID) == [plan.planID], "leased with the heartbeat that reports the images")
        }
    }

    @Test("upgrade: a schema-4 database keeps every VM and execution and then stores FAILED VMs with reasons",
          arguments: testedDialects)
    func upgradeFromSchema4(dialect: SQLDialect) async throws {
        try await withTestDatabase(dialect) { storage, database in
            let old = MigrationRunner(database: database, migrations: Migration.embedded(for: dialect).filter { $0.version <= 4 }, logger: silentLogger)
            #expect(try await old.migrate().map(\.version) == [1, 2, 3, 4])
            let store = SQLStore(database: database, logger: silentLogger)
            let fixture = StoreFixture(store: store, database: database, storage: storage)
            let world = try await fixture.world()
            let vmID = StoreFixture.id()
            let planID = StoreFixture.id()
            let executionID = StoreFixture.id()
            // The previous release's rows, as its own SQL wrote them.
            let t = StoreFixture.t0.unixMicroseconds
            try await fixture.execute("""
                INSERT INTO microvms (id, tenant_id, site_id, host_id, name, state, vcpu_count, memory_mib, last_transition_at, created_at, updated_at)
                VALUES ($1, $2, $3, $4, 'web', 'RUNNING', 1, 256, $5, $5, $5)
                """, [.text(vmID), .text(world.tenantID), .text(world.siteID), .text(world.agent.hostID), .int(t)])
            try await fixture.execute("""
                INSERT INTO plans (id, tenant_id, site_id, idempotency_key, request_hash, plan_version, status, created_at, updated_at)
                VALUES ($1, $2, $3, 'k', 'h', 1, 'SUCCEEDED', $4, $4)
                """, [.text(planID), .text(world.tenantID), .text(world.siteID), .int(t)])
            try await fixture.execute("""
                INSERT INTO executions (id, tenant_id, site_id, plan_id, ordinal, operation_id, operation_type, vm_id, vm_name, vcpu_count,
                                        memory_mib, payload_json, state, created_at, updated_at)
                VALUES ($1, $2, $3, $4, 0, 'c', 'CREATE', $5, 'web', 1, 256, '{}', 'SUCCEEDED', $6, $6)
                """, [.text(executionID), .text(world.tenantID), .text(world.siteID), .text(planID), .text(vmID), .int(t)])

            #expect(try await store.migrate() == ["0005_real_microvms.sql", "0006_console_sessions.sql"])
            try await store.checkSchema()
            let after = try await store.listMicroVMs(tenantID: world.tenantID, siteID: world.siteID)
            #expect(after.map(\.id) == [vmID] && after.map(\.state) == [.running] && after[0].stateReason == "" && after[0].image == "")
            #expect(try await store.execution(id: executionID, tenantID: world.tenantID)?.vmId == vmID)
            _ = try await store.ingestHeartbeat(fixture.heartbeat(world.agent.agentID, vms: [
                HeartbeatIngest.ReportedVM(id: vmID, name: "web", state: .failed, vcpuCount: 1, memoryMiB: 256, updatedAt: StoreFixture.at(2),
                                           stateReason: "the VMM exited"),
            ]), lease: StoreFixture.lease, now: StoreFixture.at(2))
            #expect(try await fixture.microVM(vmID, world: world)?.state == .failed)
            // Foreign keys still hold on the rebuilt table.
            await #expect(throws: StoreError.self) {
                try await fixture.execute("UPDATE executions SET vm_id = $1 WHERE id = $2", [.text(StoreFixture.id()), .text(executionID)])
            }
        }
    }
}
