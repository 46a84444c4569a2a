import Foundation
import NKudoContract
@testable import NKudoControlPlane
import NKudoStore
import Testing

/// A heartbeat is normalised once, here, before the store sees it: the store takes ids,
/// names, states and sizes as they come.
@Suite("Heartbeat normalisation")
struct HeartbeatNormalizerTests {
    static let now = Date(timeIntervalSince1970: 1_770_379_200)

    static let storageCases: [([Int64], Int64)] = [
        ([.max, 1], .max), ([.min, -1], 0), ([100, 200], 300), ([.max - 5, 3, .min], .max - 2), ([], 0),
    ]

    @Test("storage from nested disks: negative sizes count as none, the sum stops at Int64.max instead of trapping",
          arguments: storageCases)
    func storageTotals(sizes: [Int64], expected: Int64) {
        let facts = HostFacts(disks: sizes.map { HostFacts.Disk(mountpoint: "/", totalBytes: $0) })
        #expect(HeartbeatNormalizer.normalize(HeartbeatRequest(hostFacts: facts), agentID: "a", now: Self.now).storageBytesTotal == expected)
    }

    @Test("VM reports: canonical ids only, blank names become the id, unknown states CREATING, sizes at least 1 vCPU and 128 MiB")
    func vmReports() {
        let id = "7C9E2F4A-6B8D-4C1E-A3F5-0B2D4E6F8A9C"
        let request = HeartbeatRequest(microvms: [
            .init(id: id, name: " ", state: "exploded", vcpuCount: 0, memoryMib: 0),
            .init(id: "not-a-uuid", name: "x", state: "running"),
            .init(id: " ", name: "y", state: "running"),
            .init(id: "0b2d4e6f-8a9c-4c1e-a3f5-7c9e2f4a6b8d", name: "web", state: "", status: "created", vcpuCount: 2, memoryMib: 512),
        ])
        let vms = HeartbeatNormalizer.normalize(request, agentID: "a", now: Self.now).microVMs
        #expect(vms == [
            HeartbeatIngest.ReportedVM(id: id.lowercased(), name: id.lowercased(), state: .creating, vcpuCount: 1, memoryMiB: 128, updatedAt: Self.now),
            HeartbeatIngest.ReportedVM(id: "0b2d4e6f-8a9c-4c1e-a3f5-7c9e2f4a6b8d", name: "web", state: .stopped, vcpuCount: 2, memoryMiB: 512,
                                       updatedAt: Self.now),
        ])
    }

    @Test("VM reports keep the agent's reason, hypervisor and console tail (at most 64 KiB, from a line start); FAILED stays FAILED")
    func vmDetails() {
        let id = "0b2d4e6f-8a9c-4c1e-a3f5-7c9e2f4a6b8d"
        let long = String(repeating: "x", count: 100) + "\n" + String(repeating: "booting line\n", count: 6000)
        let request = HeartbeatRequest(microvms: [
            .init(id: id, name: "web", state: "failed", stateReason: "guest kernel panic: Kernel panic", consoleTail: long, hypervisor: "qemu"),
        ], hostFacts: HostFacts(hypervisors: ["qemu"], hypervisor: "qemu", accelerator: "tcg"),
           imageCatalog: .init(images: [Image(name: "disk.raw", digest: "sha256:" + String(repeating: "a", count: 64), sizeBytes: 1, kind: .disk)]))
        let ingest = HeartbeatNormalizer.normalize(request, agentID: "a", now: Self.now)
        let vm = ingest.microVMs[0]
        #expect(vm.state == .failed && vm.stateReason == "guest kernel panic: Kernel panic" && vm.hypervisor == "qemu")
        let tail = vm.consoleTail ?? ""
        #expect(tail.utf8.count <= HeartbeatNormalizer.maximumConsoleTailBytes && tail.hasPrefix("booting line\n") && tail.hasSuffix("booting line\n"))
        #expect(ingest.hypervisors == ["qemu"] && ingest.hypervisor == "qemu" && ingest.imageCatalog?.images.count == 1)
        let quiet = HeartbeatNormalizer.normalize(HeartbeatRequest(microvms: [.init(id: id, state: "RUNNING")]), agentID: "a", now: Self.now)
        #expect(quiet.microVMs[0].consoleTail == nil && quiet.hypervisors == nil && quiet.imageCatalog == nil, "absent means unchanged")
    }

    @Test("execution updates: canonical ids and known states only; blank error fields are left to the execution rules' defaults")
    func executionUpdates() {
        let request = HeartbeatRequest(executionUpdates: [
            .init(executionId: "2B1F0C3E-5A7D-4E8F-9B0A-1C2D3E4F5A6B", state: "error", errorCode: " ", errorMessage: "", leaseToken: -3),
            .init(executionId: "2b1f0c3e-5a7d-4e8f-9b0a-1c2d3e4f5a6b", state: "sleeping"),
            .init(executionId: "nope", state: "FAILED"),
        ])
        let updates = HeartbeatNormalizer.normalize(request, agentID: "a", now: Self.now).executionUpdates
        #expect(updates == [
            HeartbeatIngest.ExecutionUpdate(executionID: "2b1f0c3e-5a7d-4e8f-9b0a-1c2d3e4f5a6b", state: .failed, errorCode: nil, errorMessage: nil,
                                            updatedAt: Self.now, leaseToken: 0),
        ])
    }
}
