import Foundation
import NKudoContract
import NKudoEdge
import NKudoPKI
import NKudoWire
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A fixture tree standing in for /proc, /sys, /etc, /dev and the mount points.
struct HostFixture {
    let base: String
    var roots: HostFactsCollector.Roots { .fixture(base) }

    struct Link {
        var name: String
        var index: Int
        var mac: String
        var physical = false
        var bridge = false
        var loopback = false
    }

    static let links = [
        Link(name: "lo", index: 1, mac: "00:00:00:00:00:00", loopback: true),
        Link(name: "eth1", index: 3, mac: "52:54:00:aa:bb:02", physical: true),
        Link(name: "eth0", index: 2, mac: "52:54:00:AA:BB:01", physical: true),
        Link(name: "br0", index: 4, mac: "02:42:ac:11:00:01", bridge: true),
        Link(name: "docker0", index: 5, mac: "02:42:ac:11:00:02", bridge: true),
        Link(name: "veth1a2b3c", index: 6, mac: "8e:11:22:33:44:55"),
        Link(name: "tap-vm1", index: 7, mac: "fe:11:22:33:44:66"),
    ]

    init() throws {
        base = try TestFiles.makeTemporaryDirectory("hostfacts")
        try TestFiles.write(
            "MemTotal:       16384000 kB\nMemFree:          1000 kB\nMemAvailable:    8000000 kB\nBuffers: 1 kB\n",
            to: base + "/proc/meminfo"
        )
        try TestFiles.write("Name:\tswift\nCpus_allowed:\tff\nCpus_allowed_list:\t0-3,6\n", to: base + "/proc/self/status")
        try TestFiles.write("6.8.0-45-generic\n", to: base + "/proc/sys/kernel/osrelease")
        try TestFiles.write(
            "# comment\nNAME=\"Ubuntu\"\nID=ubuntu\nVERSION_ID=\"24.04\"\nVERSION=\"24.04 LTS (Noble Numbat)\"\n\n",
            to: base + "/etc/os-release"
        )
        try TestFiles.write("0123456789abcdef0123456789abcdef\n", to: base + "/etc/machine-id")
        try TestFiles.write("4C4C4544-0042-3510-8052-B4C04F564433\n", to: base + "/sys/class/dmi/id/product_uuid")
        for link in Self.links {
            let directory = base + "/sys/class/net/" + link.name
            try TestFiles.write(link.mac + "\n", to: directory + "/address")
            try TestFiles.write("6\n", to: directory + "/addr_len")
            try TestFiles.write("\(link.index)\n", to: directory + "/ifindex")
            try TestFiles.write(link.loopback ? "0x9\n" : "0x1003\n", to: directory + "/flags")
            if link.physical {
                try TestFiles.makeDirectory(directory + "/device")
            }
            if link.bridge {
                try TestFiles.makeDirectory(directory + "/bridge")
            }
        }
        try TestFiles.makeDirectory(base + "/fs/var")
        try TestFiles.makeDirectory(base + "/fs/home")
        try TestFiles.makeDirectory(base + "/dev")
    }

    func defaultRoute(via interface: String?) throws {
        var text = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
        text += "eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
        if let interface {
            text += "eth0\t00000000\t010200C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\n"
            text += "\(interface)\t00000000\t010200C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
        }
        try TestFiles.write(text, to: base + "/proc/net/route")
    }

    func collector(mountPoints: [String] = ["/", "/var", "/home"]) -> HostFactsCollector {
        HostFactsCollector(roots: roots, mountPoints: mountPoints) {
            ["eth0": ["192.168.2.10/24", "fe80::5054:ff:feaa:bb01/64"], "lo": ["127.0.0.1/8"]]
        }
    }
}

@Suite("HostFactsCollector")
struct HostFactsTests {
    @Test("facts from a fixture tree")
    func fixtureFacts() throws {
        let fixture = try HostFixture()
        try fixture.defaultRoute(via: "eth1")
        try FileManager.default.createSymbolicLink(atPath: fixture.base + "/dev/kvm", withDestinationPath: "/dev/null")
        let now = Date(timeIntervalSince1970: 1_750_000_000)
        let facts = try fixture.collector().collect(now: now)
        #expect(facts.collectedAt == ProtoTimestamp(date: now))
        #expect(facts.cpuCores == 5)
        #expect(facts.memoryTotalBytes == 16_384_000 * 1024)
        #expect(facts.memoryFreeBytes == 8_000_000 * 1024)
        #expect(facts.os == "ubuntu")
        #expect(facts.osVersion == "24.04")
        #expect(facts.kernel == "6.8.0-45-generic")
        #expect(facts.kvm == HostFacts.Kvm(present: true, readable: true, writable: true))
        #expect(facts.interfaces.map(\.name) == ["eth0", "eth1", "br0", "docker0", "veth1a2b3c", "tap-vm1"])
        #expect(facts.interfaces[0].mac == "52:54:00:aa:bb:01")
        #expect(facts.interfaces[0].addresses == ["192.168.2.10/24", "fe80::5054:ff:feaa:bb01/64"])
        #expect(facts.interfaces[1].addresses == [])
        #expect(facts.bridges == ["br0", "docker0"])
        #expect(facts.interfaces.filter(\.isBridge).map(\.name) == ["br0", "docker0"])
    }

    @Test("os-release fallbacks")
    func osReleaseFallbacks() throws {
        let fixture = try HostFixture()
        try TestFiles.write("ID=debian\nVERSION=\"12 (bookworm)\"\n", to: fixture.base + "/etc/os-release")
        let release = fixture.collector().osRelease()
        #expect(release.id == "debian")
        #expect(release.version == "12 (bookworm)")
        try FileManager.default.removeItem(atPath: fixture.base + "/etc/os-release")
        let fallback = fixture.collector().osRelease()
        #expect(fallback.id == "linux")
        #expect(fallback.version == "unknown")
    }

    @Test("mount points on one filesystem are reported once")
    func disksDeduplicatedByFilesystem() throws {
        let fixture = try HostFixture()
        let disks = try fixture.collector().disks()
        #expect(disks.map(\.mountpoint) == ["/"])
        #expect(disks[0].totalBytes > 0)
        #expect(disks[0].freeBytes <= disks[0].totalBytes)
    }

    @Test("a second filesystem is reported, missing mount points are skipped")
    func disksOnTwoFilesystems() throws {
        let fixture = try HostFixture()
        let other = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : "/proc"
        try FileManager.default.createSymbolicLink(atPath: fixture.base + "/fs/other", withDestinationPath: other)
        let disks = try fixture.collector(mountPoints: ["/", "/var", "/missing", "/other", "/home"]).disks()
        #expect(disks.map(\.mountpoint) == ["/", "/other"])
    }

    @Test("no queryable mount point is an error")
    func noDisks() throws {
        let fixture = try HostFixture()
        let error = #expect(throws: HostFactsError.self) { try fixture.collector(mountPoints: ["/nope"]).disks() }
        #expect(error?.message == "no disk facts available")
    }

    @Test("KVM: missing, openable device, directory, regular file")
    func kvmCases() throws {
        let fixture = try HostFixture()
        let collector = fixture.collector()
        let kvmPath = fixture.base + "/dev/kvm"
        #expect(collector.kvm() == HostFacts.Kvm(present: false, checkMessage: "stat /dev/kvm: no such file or directory"))

        try FileManager.default.createSymbolicLink(atPath: kvmPath, withDestinationPath: "/dev/null")
        #expect(collector.kvm() == HostFacts.Kvm(present: true, readable: true, writable: true))
        try FileManager.default.removeItem(atPath: kvmPath)

        try TestFiles.makeDirectory(kvmPath)
        #expect(collector.kvm() == HostFacts.Kvm(present: true, checkMessage: "open /dev/kvm: is a directory"))
        try FileManager.default.removeItem(atPath: kvmPath)

        try TestFiles.write("", to: kvmPath, mode: 0o600)
        #expect(collector.kvm() == HostFacts.Kvm(present: true, checkMessage: "/dev/kvm is not a character device"))
    }

    @Test("KVM: a device that cannot be opened is neither readable nor writable", .enabled(if: geteuid() != 0))
    func kvmPermissionDenied() throws {
        let fixture = try HostFixture()
        try TestFiles.write("", to: fixture.base + "/dev/kvm", mode: 0o400)
        #expect(fixture.collector().kvm() == HostFacts.Kvm(present: true, checkMessage: "open /dev/kvm: permission denied"))
    }

    @Test("cloud_hypervisor_available needs the binary and usable KVM")
    func cloudHypervisorAvailable() throws {
        let fixture = try HostFixture()
        let collector = fixture.collector()
        let bin = fixture.base + "/bin"
        try TestFiles.write("#!/bin/sh\n", to: bin + "/cloud-hypervisor", mode: 0o755)
        let environment = ["PATH": "/nonexistent:" + bin]
        #expect(!collector.cloudHypervisorAvailable(environment: environment))
        try FileManager.default.createSymbolicLink(atPath: fixture.base + "/dev/kvm", withDestinationPath: "/dev/null")
        #expect(collector.cloudHypervisorAvailable(environment: environment))
        #expect(collector.cloudHypervisorAvailable(binary: bin + "/cloud-hypervisor", environment: [:]))
        #expect(!collector.cloudHypervisorAvailable(binary: "no-such-hypervisor", environment: environment))
        #expect(!collector.cloudHypervisorAvailable(environment: ["PATH": "/nonexistent"]))
    }

    @Test("the fingerprint hashes machine-id, the DMI UUID and the default route's MAC")
    func fingerprint() throws {
        let fixture = try HostFixture()
        try fixture.defaultRoute(via: "eth1")
        let fingerprint = fixture.collector().fingerprint()
        #expect(fingerprint.machineIdSha256 == Digest.sha256Hex("0123456789abcdef0123456789abcdef"))
        #expect(fingerprint.biosUuidSha256 == Digest.sha256Hex("4c4c4544-0042-3510-8052-b4c04f564433"))
        #expect(fingerprint.primaryMacSha256 == Digest.sha256Hex("52:54:00:aa:bb:02"))
    }

    @Test(
        "the primary MAC ignores bridges and virtual links and falls back to the first physical link",
        arguments: [nil, "br0", "docker0", "veth1a2b3c", "tap-vm1", "wt0"] as [String?]
    )
    func primaryInterfaceFallback(route: String?) throws {
        let fixture = try HostFixture()
        try fixture.defaultRoute(via: route)
        let collector = fixture.collector()
        #expect(collector.primaryInterface() == "eth0")
        #expect(collector.fingerprint().primaryMacSha256 == Digest.sha256Hex("52:54:00:aa:bb:01"))
    }

    @Test("the primary MAC is stable when virtual links come and go")
    func primaryInterfaceStable() throws {
        let fixture = try HostFixture()
        let before = fixture.collector().fingerprint()
        for name in ["aa-veth", "br-0a1b", "docker1", "vnet0", "cni0"] {
            try TestFiles.write("02:00:00:00:00:09\n", to: fixture.base + "/sys/class/net/\(name)/address")
        }
        try TestFiles.makeDirectory(fixture.base + "/sys/class/net/br-0a1b/bridge")
        try TestFiles.makeDirectory(fixture.base + "/sys/class/net/aa-veth/bridge")
        #expect(fixture.collector().fingerprint() == before)
        #expect(before.primaryMacSha256 != nil)
    }

    @Test("missing identity files are omitted from the fingerprint")
    func fingerprintOmissions() throws {
        let fixture = try HostFixture()
        try FileManager.default.removeItem(atPath: fixture.base + "/etc/machine-id")
        try FileManager.default.removeItem(atPath: fixture.base + "/sys/class/dmi")
        try FileManager.default.removeItem(atPath: fixture.base + "/sys/class/net/eth0/device")
        try FileManager.default.removeItem(atPath: fixture.base + "/sys/class/net/eth1/device")
        #expect(fixture.collector().fingerprint() == HostFingerprint())
    }

    @Test("CPU lists are counted")
    func cpuList() throws {
        let fixture = try HostFixture()
        #expect(fixture.collector().cpuCores() == 5)
        try TestFiles.write("Cpus_allowed_list:\t0\n", to: fixture.base + "/proc/self/status")
        #expect(fixture.collector().cpuCores() == 1)
    }

    @Test("the real machine (sanity only)")
    func realMachine() throws {
        let collector = HostFactsCollector()
        let facts = try collector.collect()
        #expect(facts.cpuCores > 0)
        #expect(facts.memoryTotalBytes > 0)
        #expect(facts.memoryFreeBytes <= facts.memoryTotalBytes)
        #expect(!facts.disks.isEmpty)
        #expect(Set(facts.disks.map(\.mountpoint)).count == facts.disks.count)
        #expect(!facts.kernel.isEmpty && facts.kernel != "unknown")
        #expect(["amd64", "arm64", "386", "arm", "ppc64le", "s390x", "riscv64"].contains(facts.arch))
        #expect(!facts.interfaces.contains { $0.name == "lo" })
        #expect(facts.kvm != nil)
        _ = collector.fingerprint()
    }
}
