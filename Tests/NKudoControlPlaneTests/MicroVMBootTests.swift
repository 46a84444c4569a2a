import ControlPlaneTestSupport
import Foundation
import NKudoContract
import Testing

/// What a VM runs, through the API: CREATE names images of the site's hosts (checked at
/// apply time against the catalogs their agents report), the lease carries the boot
/// parameters to the agent, and the VM list and console route show what the agent reports.
@Suite("MicroVM boot requests", .serialized)
struct MicroVMBootTests {
    static let catalog = HeartbeatRequest.ImageCatalog(
        images: [
            Image(name: "nkudo-test-disk.raw", digest: "sha256:" + String(repeating: "a", count: 64), sizeBytes: 8 << 20, kind: .disk),
            Image(name: "nkudo-test-vmlinuz", digest: "sha256:" + String(repeating: "b", count: 64), sizeBytes: 7 << 20, kind: .kernel),
            Image(name: "nkudo-test-initrd.img", digest: "sha256:" + String(repeating: "c", count: 64), sizeBytes: 2 << 20, kind: .initrd),
        ],
        kernelArgKeys: ["console", "ip", "panic"])

    static let matrix: [(ControlPlaneHarness.Backend, WireFormat)] = ControlPlaneHarness.Backend.enabled.flatMap { backend in
        [(backend, WireFormat.json), (backend, .binary)]
    }

    static func create(_ vmID: String, image: String = "nkudo-test-disk.raw", kernel: String = "nkudo-test-vmlinuz",
                       initrd: String = "nkudo-test-initrd.img", args: [String] = ["console=ttyS0", "ip=10.99.0.2::10.99.0.1:255.255.255.0::eth0:off"],
                       keys: [String] = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHk0j4nJqP3k2x7 ops@example.com"],
                       userData: String = "#cloud-config\n") -> ApplyPlanRequest.Action {
        ApplyPlanRequest.Action(operation: .create, vmId: vmID, name: "guest", vcpuCount: 1, memoryMib: 256, image: image, kernel: kernel,
                                initrd: initrd, kernelArgs: args, sshAuthorizedKeys: keys, userData: userData)
    }

    @Test("a CREATE names images an ONLINE host has; its lease carries them, the VM list and console show what the agent reports",
          arguments: matrix)
    func bootThroughTheAPI(backend: ControlPlaneHarness.Backend, format: WireFormat) async throws {
        try await ControlPlaneHarness.withFleet(backend) { harness, _ in
            let fleet = try await Fleet.create(harness, format: format, slug: "boot-\(UUID().uuidString.prefix(6).lowercased())")
            let agent = try await fleet.enrollAgent(hostname: "zrh-edge-01")
            let vmID = UUID().uuidString.lowercased()
            let refused = await SafetyTests.failure {
                _ = try await fleet.tenantClient.applyPlan(ApplyPlanRequest(siteId: fleet.site.id, idempotencyKey: "early", actions: [Self.create(vmID)]))
            }
            #expect(refused?.status == 400 && refused?.body.contains("is on no ONLINE host") == true, "\(refused?.description ?? "accepted")")

            _ = try await agent.client.heartbeat(HeartbeatRequest(
                heartbeatSeq: 1, hostFacts: HostFacts(hypervisors: ["qemu"], hypervisor: "qemu", accelerator: "tcg"),
                imageCatalog: Self.catalog))
            let images = try await fleet.tenantClient.listSiteImages(ListSiteImagesRequest(siteId: fleet.site.id)).hosts
            #expect(images.map(\.hostname) == ["zrh-edge-01"] && images[0].images.count == 3 && images[0].agentState == .online)
            #expect(try await fleet.tenantClient.listHosts(ListHostsRequest(siteId: fleet.site.id)).hosts[0].hypervisor == "qemu")

            let applied = try await fleet.tenantClient.applyPlan(ApplyPlanRequest(siteId: fleet.site.id, idempotencyKey: "boot", actions: [
                Self.create(vmID, image: "sha256:" + String(repeating: "a", count: 64)),
            ]))
            let leased = try #require(try await agent.client.heartbeat(HeartbeatRequest(heartbeatSeq: 2)).pendingPlans.first)
            let params = try #require(leased.actions.first?.params)
            #expect(params.rootfsPath == "sha256:" + String(repeating: "a", count: 64) && params.kernelPath == "nkudo-test-vmlinuz")
            #expect(params.initrdPath == "nkudo-test-initrd.img" && params.extraArgs.count == 2 && params.sshAuthorizedKeys.count == 1)
            #expect(params.userData == "#cloud-config\n")

            _ = try await agent.client.heartbeat(HeartbeatRequest(heartbeatSeq: 3, executionUpdates: [
                .init(executionId: try #require(leased.actions.first?.executionId), state: "IN_PROGRESS", leaseToken: leased.leaseToken),
            ]))
            _ = try await agent.client.heartbeat(HeartbeatRequest(heartbeatSeq: 4, microvms: [
                .init(id: vmID, name: "guest", status: "FAILED", vcpuCount: 1, memoryMib: 256,
                      stateReason: "guest kernel panic: Kernel panic - not syncing: Attempted to kill init!",
                      consoleTail: "NKUDO-GUEST-BOOTED\nKernel panic - not syncing: Attempted to kill init!\n", hypervisor: "qemu"),
            ]))
            let vm = try #require(try await fleet.tenantClient.listMicroVMs(ListMicroVMsRequest(siteId: fleet.site.id)).vms.first)
            #expect(vm.state == .failed && vm.stateReason.hasPrefix("guest kernel panic") && vm.hypervisor == "qemu")
            #expect(vm.image == "sha256:" + String(repeating: "a", count: 64) && vm.kernel == "nkudo-test-vmlinuz" && vm.initrd == "nkudo-test-initrd.img")
            let console = try await fleet.tenantClient.getMicroVMConsole(GetMicroVMConsoleRequest(siteId: fleet.site.id, vmId: vmID))
            #expect(console.console.contains("NKUDO-GUEST-BOOTED") && console.hostId == agent.response.hostId && applied.executions.count == 1)

            // Another tenant's key sees no console of this VM.
            let other = try await Fleet.create(harness, format: format, slug: "other-\(UUID().uuidString.prefix(6).lowercased())")
            let foreign = await SafetyTests.failure {
                _ = try await other.tenantClient.getMicroVMConsole(GetMicroVMConsoleRequest(siteId: other.site.id, vmId: vmID))
            }
            #expect(foreign?.status == 404)
        }
    }

    @Test("hostile or oversized boot requests are refused with 400 naming the field, before anything is stored",
          arguments: [
            ("image", Self.create(UUID().uuidString.lowercased(), image: "../../etc/shadow")),
            ("image", Self.create(UUID().uuidString.lowercased(), image: "/var/lib/nkudo-edge/state/agent.key")),
            ("kernel", Self.create(UUID().uuidString.lowercased(), kernel: "sha256:xyz")),
            ("image", Self.create(UUID().uuidString.lowercased(), image: "disk;rm -rf")),
            ("kernel_args", Self.create(UUID().uuidString.lowercased(), args: ["init=/bin/sh"])),
            ("kernel_args", Self.create(UUID().uuidString.lowercased(), args: ["console=ttyS0 init=/bin/sh"])),
            ("kernel_args", Self.create(UUID().uuidString.lowercased(), kernel: "", initrd: "")),
            ("ssh_authorized_keys", Self.create(UUID().uuidString.lowercased(), keys: ["ssh-ed25519 AAAA\nssh-rsa BBBB"])),
            ("user_data", Self.create(UUID().uuidString.lowercased(), userData: String(repeating: "x", count: 16 * 1024 + 1))),
            ("image", Self.create(UUID().uuidString.lowercased(), image: "not-on-any-host.raw")),
          ])
    func hostileBootRequests(field: String, action: ApplyPlanRequest.Action) async throws {
        try await ControlPlaneHarness.withFleet { _, fleet in
            let agent = try await fleet.enrollAgent()
            _ = try await agent.client.heartbeat(HeartbeatRequest(heartbeatSeq: 1, imageCatalog: Self.catalog))
            let refused = await SafetyTests.failure {
                _ = try await fleet.tenantClient.applyPlan(ApplyPlanRequest(siteId: fleet.site.id, idempotencyKey: "hostile", actions: [action]))
            }
            #expect(refused?.status == 400 && refused?.body.contains("actions[0].\(field)") == true, "\(refused?.description ?? "accepted")")
            #expect(try await fleet.tenantClient.listMicroVMs(ListMicroVMsRequest(siteId: fleet.site.id)).vms.isEmpty)
        }
    }
}
