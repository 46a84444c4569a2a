import NKudoContract

/// The benchmarked heartbeat: what an edge agent on a busy host sends every 15 s.
/// Deterministic (fixed seed), so the encoded sizes are the same on every run.
enum Fixture {
    static let microVMCount = 20
    static let executionUpdateCount = 10

    static func heartbeat() -> HeartbeatRequest {
        var rng = SplitMix64(seed: 0x6E6B_7564_6F00_0001)
        // 2025-11-29T14:03:17Z, with nanoseconds as a Go agent reports them.
        let now: Int64 = 1_764_424_997
        func stamp(_ secondsAgo: Int64) -> ProtoTimestamp {
            ProtoTimestamp(seconds: now - secondsAgo, nanos: Int32(rng.next() % 1_000_000_000))
        }

        let vmStates = ["RUNNING", "RUNNING", "RUNNING", "STOPPED", "RUNNING", "CREATING", "RUNNING", "DELETED"]
        let vmRoles = ["web", "api", "worker", "postgres", "redis", "ci-runner", "edge-proxy", "batch"]
        var microvms: [HeartbeatRequest.MicroVMReport] = []
        for index in 0..<microVMCount {
            let id = rng.uuid()
            let state = vmStates[index % vmStates.count]
            let running = state == "RUNNING"
            microvms.append(HeartbeatRequest.MicroVMReport(
                id: id,
                name: "\(vmRoles[index % vmRoles.count])-\(String(index + 1, radix: 10).leftPadded(to: 2))",
                state: state,
                status: state.lowercased(),
                vcpuCount: [1, 2, 2, 4, 8][index % 5],
                memoryMib: [512, 1024, 2048, 4096, 8192][index % 5],
                kernelPath: "/var/lib/nkudo/kernels/vmlinux-6.1.102-ch",
                rootfsPath: "/var/lib/nkudo/vms/\(id)/rootfs.ext4",
                tapIface: "tap\(id.prefix(8))",
                chPid: running ? Int32(20_000 + Int(rng.next() % 40_000)) : 0,
                updatedAt: stamp(Int64(rng.next() % 86_400))
            ))
        }

        var executionUpdates: [HeartbeatRequest.ExecutionUpdate] = []
        for index in 0..<executionUpdateCount {
            let failed = index % 4 == 3
            let state = failed ? "FAILED" : (index % 3 == 0 ? "IN_PROGRESS" : "SUCCEEDED")
            executionUpdates.append(HeartbeatRequest.ExecutionUpdate(
                executionId: rng.uuid(),
                state: state,
                errorCode: failed ? "ACTION_FAILED" : "",
                errorMessage: failed
                    ? "cloud-hypervisor exited with status 1: Error booting VM: VmBoot(DeviceManager(CreateVirtioNet(OpenTap(TapOpen(Os { code: 16, kind: ResourceBusy })))))"
                    : "",
                updatedAt: stamp(Int64(index) * 2)
            ))
        }

        let hostFacts = HostFacts(
            collectedAt: stamp(1),
            cpuCores: 32,
            memoryTotalBytes: 134_927_630_336,
            memoryFreeBytes: 61_203_456_000,
            disks: [
                HostFacts.Disk(mountpoint: "/", totalBytes: 107_321_753_600, freeBytes: 71_958_274_048),
                HostFacts.Disk(mountpoint: "/var", totalBytes: 1_920_383_410_176, freeBytes: 1_288_490_188_800),
                HostFacts.Disk(mountpoint: "/home", totalBytes: 107_321_753_600, freeBytes: 71_958_274_048),
            ],
            os: "ubuntu",
            osVersion: "24.04",
            kernel: "6.8.0-45-generic",
            arch: "amd64",
            kvm: HostFacts.Kvm(present: true, readable: true, writable: true, checkMessage: nil),
            interfaces: [
                HostFacts.Interface(name: "eno1", mac: "3c:ec:ef:4a:91:0e",
                                    addresses: ["10.42.7.21/24", "2a01:4f8:10b:2d4e::2/64", "fe80::3eec:efff:fe4a:910e/64"], isBridge: false),
                HostFacts.Interface(name: "eno2", mac: "3c:ec:ef:4a:91:0f",
                                    addresses: ["192.168.100.7/24", "fe80::3eec:efff:fe4a:910f/64"], isBridge: false),
                HostFacts.Interface(name: "br-nkudo", mac: "02:42:ac:1f:00:01",
                                    addresses: ["172.31.0.1/16", "fe80::42:acff:fe1f:1/64"], isBridge: true),
                HostFacts.Interface(name: "wt0", mac: "",
                                    addresses: ["100.92.14.7/16"], isBridge: false),
                HostFacts.Interface(name: "docker0", mac: "02:42:5b:7e:c3:9a",
                                    addresses: ["172.17.0.1/16"], isBridge: true),
            ],
            bridges: ["br-nkudo", "docker0"]
        )

        let netbird = NetbirdStatus(
            connected: true,
            state: .connected,
            reason: "network ready",
            peerId: "cm3q7b2k0004s9d2l8x1v0a7e",
            ipv4: "100.92.14.7",
            managementUrl: "https://api.netbird.io:443",
            networkId: "ct8r1gk9u1ns73d0bq2g",
            peersConnected: 14,
            peersTotal: 17,
            managementConnected: true,
            signalConnected: true,
            fqdn: "edge-fra1-07.netbird.cloud"
        )

        return HeartbeatRequest(
            agentId: rng.uuid(),
            heartbeatSeq: 48_213,
            agentVersion: "0.9.3+git.4f2c1ab",
            os: "ubuntu",
            arch: "amd64",
            kernelVersion: "6.8.0-45-generic",
            hostname: "edge-fra1-07.nkudo.internal",
            cpuCoresTotal: 32,
            memoryBytesTotal: 134_927_630_336,
            storageBytesTotal: 2_135_026_917_376,
            kvmAvailable: true,
            cloudHypervisorAvailable: true,
            microvms: microvms,
            executionUpdates: executionUpdates,
            hostFacts: hostFacts,
            tenantId: rng.uuid(),
            siteId: rng.uuid(),
            hostId: rng.uuid(),
            sentAt: stamp(0),
            netbirdStatus: netbird
        )
    }
}

/// Deterministic generator for the fixture (SplitMix64).
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A lower-case random (version 4) UUID string.
    mutating func uuid() -> String {
        var high = next(), low = next()
        high = (high & ~0xF000) | 0x4000 // version 4
        low = (low & ~(0xC000 << 48)) | (0x8000 << 48) // variant 10
        let hex = high.hex16 + low.hex16
        let c = Array(hex)
        return String(c[0..<8]) + "-" + String(c[8..<12]) + "-" + String(c[12..<16]) + "-"
            + String(c[16..<20]) + "-" + String(c[20..<32])
    }
}

extension UInt64 {
    fileprivate var hex16: String { String(String(self, radix: 16).leftPadded(to: 16, with: "0")) }
}

extension String {
    fileprivate func leftPadded(to width: Int, with pad: Character = "0") -> String {
        count >= width ? self : String(repeating: pad, count: width - count) + self
    }
}
