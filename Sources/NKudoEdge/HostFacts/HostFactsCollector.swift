public import Foundation
public import NKudoContract
import NKudoPKI
import NKudoWire

/// Why host facts could not be collected.
public struct HostFactsError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What happened.
    public let message: String

    /// Creates an error.
    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}

/// Collects the host facts of reference §7 (with the defects of §11.2 #19 fixed) and
/// the host fingerprint from `/proc`, `/sys`, `/etc` and `/dev`.
///
/// Every root is injectable so tests run against fixture trees. Each call reads the
/// files once; nothing is cached.
public struct HostFactsCollector: Sendable {
    /// Where the collector looks for the system's files.
    public struct Roots: Sendable, Hashable {
        /// Stands for `/proc`.
        public var proc: String
        /// Stands for `/sys`.
        public var sys: String
        /// Stands for `/etc`.
        public var etc: String
        /// Stands for `/dev`.
        public var dev: String
        /// Prefix of the mount points queried with `statfs` (`/` on a real host).
        public var filesystem: String

        /// Creates roots.
        public init(proc: String, sys: String, etc: String, dev: String, filesystem: String) {
            self.proc = proc
            self.sys = sys
            self.etc = etc
            self.dev = dev
            self.filesystem = filesystem
        }

        /// The running system.
        public static let system = Roots(proc: "/proc", sys: "/sys", etc: "/etc", dev: "/dev", filesystem: "/")

        /// All roots below one fixture directory (`<base>/proc`, `<base>/sys`, …,
        /// mount points below `<base>/fs`).
        public static func fixture(_ base: String) -> Roots {
            Roots(proc: base + "/proc", sys: base + "/sys", etc: base + "/etc", dev: base + "/dev", filesystem: base + "/fs")
        }
    }

    /// Interface-name prefixes of virtual links never used for the fingerprint.
    static let virtualInterfacePrefixes = [
        "lo", "docker", "veth", "br-", "virbr", "tap", "tun", "vnet", "cni", "flannel", "cali",
        "weave", "vxlan", "kube", "wt", "wg", "ifb", "dummy", "nb",
    ]

    /// The roots read.
    public var roots: Roots
    /// Mount points reported in `disks`, in order (each filesystem once).
    public var mountPoints: [String]
    /// Addresses per interface name; `getifaddrs` of the running system by default.
    public var interfaceAddresses: @Sendable () -> [String: [String]]

    /// Creates a collector.
    ///
    /// - Parameters:
    ///   - roots: Where `/proc`, `/sys`, `/etc`, `/dev` and the mount points are.
    ///   - mountPoints: Mount points for `disks` (default `/`, `/var`, `/home`).
    ///   - interfaceAddresses: Source of interface addresses (default `getifaddrs`).
    public init(
        roots: Roots = .system,
        mountPoints: [String] = ["/", "/var", "/home"],
        interfaceAddresses: (@Sendable () -> [String: [String]])? = nil
    ) {
        self.roots = roots
        self.mountPoints = mountPoints
        self.interfaceAddresses = interfaceAddresses ?? { HostSystemCalls.interfaceAddresses() }
    }

    // MARK: Facts

    /// Collects all facts once.
    ///
    /// - Throws: ``HostFactsError`` `no disk facts available` when no mount point could
    ///   be queried (the only fatal case).
    public func collect(now: Date = Date()) throws -> HostFacts {
        let memory = memoryInfo()
        let release = osRelease()
        let interfaces = self.interfaces()
        return HostFacts(
            collectedAt: ProtoTimestamp(date: now),
            cpuCores: Int32(clamping: cpuCores()),
            memoryTotalBytes: memory.total,
            memoryFreeBytes: memory.available,
            disks: try disks(),
            os: release.id,
            osVersion: release.version,
            kernel: kernelRelease(),
            arch: Self.goArchitecture(HostSystemCalls.kernelNames()?.machine ?? ""),
            kvm: kvm(),
            interfaces: interfaces,
            bridges: interfaces.filter(\.isBridge).map(\.name)
        )
    }

    /// Logical CPUs the process may run on: the `Cpus_allowed_list` of
    /// `<proc>/self/status`, else the active processor count.
    public func cpuCores() -> Int {
        if let status = readText(roots.proc + "/self/status") {
            for line in status.split(separator: "\n") where line.hasPrefix("Cpus_allowed_list:") {
                let count = Self.countCPUList(line.dropFirst("Cpus_allowed_list:".count))
                if count > 0 {
                    return count
                }
            }
        }
        return ProcessInfo.processInfo.activeProcessorCount
    }

    /// Number of CPUs in a kernel CPU list such as `0-3,6,8-9`.
    static func countCPUList(_ list: Substring) -> Int {
        var count = 0
        for part in list.split(separator: ",") {
            let bounds = part.trimmingCharacters(in: .whitespaces).split(separator: "-")
            guard let low = bounds.first.flatMap({ Int($0) }) else {
                return 0
            }
            let high = bounds.count > 1 ? Int(bounds[1]) ?? low : low
            count += max(0, high - low + 1)
        }
        return count
    }

    /// `MemTotal` and `MemAvailable` of `<proc>/meminfo` in bytes; 0 when absent.
    /// `memory_free_bytes` is deliberately MemAvailable: memory available for new work
    /// without swapping (free plus reclaimable caches), not the smaller MemFree.
    public func memoryInfo() -> (total: Int64, available: Int64) {
        var total: Int64 = 0
        var available: Int64 = 0
        for line in (readText(roots.proc + "/meminfo") ?? "").split(separator: "\n") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == ":" })
            guard fields.count >= 2, let kilobytes = Int64(fields[1]) else {
                continue
            }
            switch fields[0] {
            case "MemTotal": total = kilobytes * 1024
            case "MemAvailable": available = kilobytes * 1024
            default: break
            }
        }
        return (total, available)
    }

    /// One `Disk` per filesystem: mount points on a filesystem already reported (same
    /// `st_dev`) are skipped, as are mount points that cannot be queried.
    ///
    /// - Throws: ``HostFactsError`` when none can be queried.
    public func disks() throws -> [HostFacts.Disk] {
        var seen: Set<UInt64> = []
        var disks: [HostFacts.Disk] = []
        for mountPoint in mountPoints {
            guard let usage = HostSystemCalls.filesystemUsage(hostPath(mountPoint)),
                seen.insert(usage.deviceID).inserted
            else {
                continue
            }
            disks.append(HostFacts.Disk(mountpoint: mountPoint, totalBytes: usage.totalBytes, freeBytes: usage.availableBytes))
        }
        guard !disks.isEmpty else {
            throw HostFactsError("no disk facts available")
        }
        return disks
    }

    /// `ID` and `VERSION_ID` (else `VERSION`) of `<etc>/os-release`; `linux` and
    /// `unknown` when missing.
    public func osRelease() -> (id: String, version: String) {
        guard let text = readText(roots.etc + "/os-release") else {
            return ("linux", "unknown")
        }
        var values: [String: String] = [:]
        for rawLine in text.split(separator: "\n") {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            guard !line.isEmpty, !line.hasPrefix("#"), let equals = line.firstIndex(of: "=") else {
                continue
            }
            let value = line[line.index(after: equals)...].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            values[String(line[..<equals])] = value
        }
        let id = values["ID"].flatMap { $0.isEmpty ? nil : $0 } ?? "linux"
        let version = [values["VERSION_ID"], values["VERSION"]].compactMap { $0 }.first { !$0.isEmpty } ?? "unknown"
        return (id, version)
    }

    /// `<proc>/sys/kernel/osrelease`, else `uname` release, else `unknown`.
    public func kernelRelease() -> String {
        if let text = readText(roots.proc + "/sys/kernel/osrelease")?.trimmingCharacters(in: .whitespacesAndNewlines),
            !text.isEmpty
        {
            return text
        }
        let release = HostSystemCalls.kernelNames()?.release ?? ""
        return release.isEmpty ? "unknown" : release
    }

    /// Go's name of a `uname -m` machine (`x86_64` → `amd64`, `aarch64` → `arm64`, …).
    public static func goArchitecture(_ machine: String) -> String {
        switch machine {
        case "x86_64", "amd64": "amd64"
        case "aarch64", "arm64": "arm64"
        case "i386", "i486", "i586", "i686": "386"
        case "ppc64le": "ppc64le"
        case "ppc64": "ppc64"
        case "s390x": "s390x"
        case "riscv64": "riscv64"
        case "loongarch64": "loong64"
        case "mips64": "mips64"
        case "": "unknown"
        default: machine.hasPrefix("arm") ? "arm" : machine
        }
    }

    /// Availability of `<dev>/kvm`: present when it exists; readable and writable only
    /// when `open(O_RDWR)` succeeded on a character device; otherwise `checkMessage`
    /// says why (`stat /dev/kvm: …`, `open /dev/kvm: …`, `/dev/kvm is not a character
    /// device`).
    public func kvm() -> HostFacts.Kvm {
        let shown = "/dev/kvm"
        switch HostSystemCalls.openReadWrite(roots.dev + "/kvm") {
        case .missing(let reason):
            return HostFacts.Kvm(present: false, checkMessage: "stat \(shown): \(reason)")
        case .openFailed(let reason):
            return HostFacts.Kvm(present: true, checkMessage: "open \(shown): \(reason)")
        case .opened(isCharacterDevice: false):
            return HostFacts.Kvm(present: true, checkMessage: "\(shown) is not a character device")
        case .opened(isCharacterDevice: true):
            return HostFacts.Kvm(present: true, readable: true, writable: true)
        }
    }

    /// Whether Cloud Hypervisor can run VMs here: `binary` is found on `PATH` (or is an
    /// executable path) and KVM can be opened read-write.
    public func cloudHypervisorAvailable(
        binary: String = "cloud-hypervisor",
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> Bool {
        guard ExecutableLookup.find(binary, environment: environment) != nil else {
            return false
        }
        let kvm = kvm()
        return kvm.readable && kvm.writable
    }

    /// Non-loopback interfaces from `<sys>/class/net`, ordered by `ifindex`.
    public func interfaces() -> [HostFacts.Interface] {
        let addresses = interfaceAddresses()
        let links = networkLinks().filter { !$0.isLoopback }
        return links.sorted { ($0.index, $0.name) < ($1.index, $1.name) }.map { link in
            HostFacts.Interface(name: link.name, mac: link.mac, addresses: addresses[link.name] ?? [], isBridge: link.isBridge)
        }
    }

    // MARK: Fingerprint

    /// The host fingerprint: SHA-256 of `<etc>/machine-id` (trimmed), of the primary
    /// interface's MAC (see ``primaryInterface()``) and of
    /// `<sys>/class/dmi/id/product_uuid` (trimmed, lower-cased) — each omitted when
    /// unavailable.
    public func fingerprint() -> HostFingerprint {
        let machineID = readText(roots.etc + "/machine-id").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        let biosUUID = readText(roots.sys + "/class/dmi/id/product_uuid")
            .map { $0.trimmingCharacters(in: .whitespacesAndNewlines).lowercased() }
            .flatMap { $0.isEmpty ? nil : $0 }
        let mac = primaryLink(in: networkLinks())?.mac
        return HostFingerprint(
            machineIdSha256: machineID.map { Digest.sha256Hex($0) },
            biosUuidSha256: biosUUID.map { Digest.sha256Hex($0) },
            primaryMacSha256: mac.map { Digest.sha256Hex($0) }
        )
    }

    /// The interface whose MAC identifies the host: the default route's interface
    /// (lowest metric in `<proc>/net/route`) when it is not virtual; otherwise the first,
    /// by name, physical interface (one with `<sys>/class/net/<name>/device`) that is not
    /// virtual. Virtual means a bridge, a name such as `docker*`, `veth*`, `tap*`, `br-*`,
    /// or a missing or all-zero MAC. `nil` when none qualifies.
    public func primaryInterface() -> String? {
        primaryLink(in: networkLinks())?.name
    }

    private func primaryLink(in links: [NetworkLink]) -> NetworkLink? {
        let candidates = links.filter { !$0.isVirtual }
        if let routed = defaultRouteInterface(), let link = candidates.first(where: { $0.name == routed }) {
            return link
        }
        return candidates.filter(\.isPhysical).min { $0.name < $1.name }
    }

    /// The interface of the default route with the lowest metric, from `<proc>/net/route`.
    func defaultRouteInterface() -> String? {
        var best: (metric: Int, name: String)?
        for line in (readText(roots.proc + "/net/route") ?? "").split(separator: "\n").dropFirst() {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 8, fields[1] == "00000000", fields[7] == "00000000",
                let flags = Int(fields[3], radix: 16), flags & 0x1 != 0,
                let metric = Int(fields[6])
            else {
                continue
            }
            if best == nil || metric < best!.metric {
                best = (metric, String(fields[0]))
            }
        }
        return best?.name
    }

    // MARK: Links

    /// One entry of `<sys>/class/net`.
    struct NetworkLink {
        var name: String
        var index: Int
        var mac: String
        var isLoopback: Bool
        var isBridge: Bool
        var isPhysical: Bool

        var isVirtual: Bool {
            isLoopback || isBridge || mac.isEmpty || mac.allSatisfy { $0 == "0" || $0 == ":" }
                || HostFactsCollector.virtualInterfacePrefixes.contains { name.hasPrefix($0) }
        }
    }

    func networkLinks() -> [NetworkLink] {
        let base = roots.sys + "/class/net"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []
        return names.map { name in
            let directory = base + "/" + name
            let flags = readTrimmed(directory + "/flags").flatMap { Int($0.dropFirst(2), radix: 16) } ?? 0
            let addressLength = readTrimmed(directory + "/addr_len").flatMap { Int($0) } ?? 1
            let mac = addressLength == 0 ? "" : (readTrimmed(directory + "/address") ?? "").lowercased()
            return NetworkLink(
                name: name,
                index: readTrimmed(directory + "/ifindex").flatMap { Int($0) } ?? Int.max,
                mac: mac,
                isLoopback: name == "lo" || flags & 0x8 != 0,
                isBridge: HostSystemCalls.exists(directory + "/bridge"),
                isPhysical: HostSystemCalls.exists(directory + "/device")
            )
        }
    }

    // MARK: Files

    private func hostPath(_ mountPoint: String) -> String {
        if roots.filesystem == "/" {
            return mountPoint
        }
        return mountPoint == "/" ? roots.filesystem : roots.filesystem + mountPoint
    }

    private func readText(_ path: String) -> String? {
        guard let bytes = try? StateFileSystem.readFile(path) else {
            return nil
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private func readTrimmed(_ path: String) -> String? {
        readText(path)?.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
