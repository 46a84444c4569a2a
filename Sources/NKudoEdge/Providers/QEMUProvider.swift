public import AsyncHTTPClient
import Foundation
public import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Runs microVMs with QEMU (`qemu-system-x86_64 -M microvm`, or `q35` for VMs that boot
/// firmware), controlled through QMP on the VM's unix socket.
///
/// A VM's directory, disk, cloud-init seed, TAP device and metadata are the ones the Cloud
/// Hypervisor provider makes (this provider creates and deletes VMs through it, so both
/// enforce the same image, kernel-argument and TAP rules); only the VMM differs. QEMU runs
/// in its own session, detached from the agent, with `-no-shutdown` (a guest that powers
/// off leaves QEMU in the `shutdown` state instead of exiting, so the agent sees why it
/// stopped), `-no-reboot` and a pvpanic device (a guest kernel panic is
/// `guest-panicked`); the agent then quits QEMU and records the VM STOPPED or FAILED with
/// the reason. The serial console is a file in the VM's directory (``SerialConsole``).
public final class QEMUProvider: MicroVMProvider {
    /// The QEMU machine type.
    public enum Machine: String, Sendable, Hashable, CaseIterable {
        /// `-M microvm`: virtio-mmio devices, no PCI, no firmware; VMs boot a kernel.
        case microvm
        /// `-M q35`: PCI devices and SeaBIOS; also boots disks without a kernel.
        case q35
    }

    /// The accelerator QEMU uses.
    public enum Accelerator: String, Sendable, Hashable, CaseIterable {
        /// Hardware virtualisation through /dev/kvm.
        case kvm
        /// QEMU's own CPU emulation: slow, but it needs no /dev/kvm (nested or KVM-less hosts).
        case tcg
    }

    /// The hypervisor name of QEMU VMs.
    public static let hypervisorName = "qemu"

    /// The shared VM layout, image library and TAP handling.
    private let layout: CloudHypervisorProvider
    /// Machine type for VMs that boot a kernel.
    public let machine: Machine
    /// Accelerator.
    public let accelerator: Accelerator
    private let logger: Logger
    /// Keeps each VM's operations and reconciliation apart.
    private let gate = VMOperationGate()

    /// A provider with `configuration` (its `qemuBinary` runs the VMs) on `machine` with
    /// `accelerator`.
    public init(configuration: CloudHypervisorConfiguration, machine: Machine = .microvm, accelerator: Accelerator = .kvm,
                httpClient: HTTPClient = .shared, logger: Logger) {
        self.layout = CloudHypervisorProvider(configuration: configuration, httpClient: httpClient, logger: logger)
        self.machine = machine
        self.accelerator = accelerator
        self.logger = logger
    }

    private var configuration: CloudHypervisorConfiguration { layout.configuration }
    private func stateFile(_ id: VMID) -> String { "\(layout.directory(of: id))/state.json" }
    private func commandsLog(_ id: VMID) -> String { "\(layout.directory(of: id))/commands.log" }
    private func qmp(_ metadata: VMMetadata) -> QMPClient {
        QMPClient(socketPath: metadata.apiSocketPath, timeout: configuration.requestTimeout)
    }

    // MARK: Lifecycle

    public func create(_ spec: MicroVMSpec) async throws(ProviderError) -> MicroVMState {
        try await gate.exclusively(spec.id) { () async throws(ProviderError) in try await make(spec) }
    }

    public func start(_ id: VMID) async throws(ProviderError) -> MicroVMState {
        try await gate.exclusively(id) { () async throws(ProviderError) in try await launch(id) }
    }

    public func stop(_ id: VMID, gracePeriod: Double) async throws(ProviderError) -> MicroVMState {
        try await gate.exclusively(id) { () async throws(ProviderError) in try await halt(id, gracePeriod: gracePeriod) }
    }

    public func delete(_ id: VMID) async throws(ProviderError) {
        try await gate.exclusively(id) { () async throws(ProviderError) in try await remove(id) }
    }

    /// The VM's true state; while a lifecycle operation holds the VM, its state as recorded
    /// (the operation records what it does to the VMM).
    public func state(of id: VMID) async throws(ProviderError) -> MicroVMState? {
        try await gate.state(of: id, recordedIn: stateFile(id)) { () async throws(ProviderError) in try await reconcile(id) }
    }

    private func make(_ spec: MicroVMSpec) async throws(ProviderError) -> MicroVMState {
        _ = try await layout.create(spec)
        guard var metadata = try VMMetadata.load(from: stateFile(spec.id)) else {
            throw ProviderError(.io, "vm \(spec.id) has no metadata after create")
        }
        if metadata.hypervisor != Self.hypervisorName {
            metadata.hypervisor = Self.hypervisorName
            try metadata.save(to: stateFile(spec.id))
        }
        return metadata.state
    }

    private func launch(_ id: VMID) async throws(ProviderError) -> MicroVMState {
        guard var metadata = try ownMetadata(id) else {
            throw ProviderError(.notFound, "vm not found: \(id)")
        }
        if let process = metadata.process, ProcessControl.isAlive(process) {
            if (try? await qmp(metadata).status()) == "running" {
                logger.info("vm already running", metadata: [EdgeLogKey.vmID: "\(id)", EdgeLogKey.pid: "\(process.pid)"])
                metadata.status = .running
                try metadata.save(to: stateFile(id))
                return metadata.state
            }
            // A QEMU whose guest is not running (powered off, panicked) is replaced.
            await quit(process, metadata: metadata)
        }
        metadata.process = nil
        if let unrecorded = ProcessControl.find(option: "-qmp", value: Self.qmpArgument(metadata)) {
            // The agent died between launching this VM's QEMU and recording it: adopt it.
            logger.warning("adopting an unrecorded QEMU of this VM", metadata: [EdgeLogKey.vmID: "\(id)", EdgeLogKey.pid: "\(unrecorded.pid)"])
            metadata.process = unrecorded
            if (try? await waitUntilRunning(unrecorded, metadata: metadata)) != nil {
                metadata.status = .running
                metadata.stateReason = nil
                try metadata.save(to: stateFile(id))
                return metadata.state
            }
            await quit(unrecorded, metadata: metadata)
            metadata.process = nil
        }
        unlink(metadata.apiSocketPath)
        SerialConsole(path: metadata.consolePath).startNewBoot()
        let binary = configuration.qemuBinary
        let arguments = commandLine(metadata)
        CommandRunner.trace(([binary] + arguments).map(CommandRunner.quoted).joined(separator: " "), to: commandsLog(id))
        let process = try ProcessControl.spawnDetached(executable: binary, arguments: arguments, logPath: metadata.logPath)
        metadata.process = process
        metadata.stateReason = nil
        try metadata.save(to: stateFile(id))
        logger.info("qemu started", metadata: [EdgeLogKey.vmID: "\(id)", EdgeLogKey.pid: "\(process.pid)", EdgeLogKey.accelerator: "\(accelerator.rawValue)"])
        do {
            try await waitUntilRunning(process, metadata: metadata)
        } catch {
            logger.warning("qemu did not come up, killing it", metadata: [EdgeLogKey.vmID: "\(id)", EdgeLogKey.error: "\(error)"])
            ProcessControl.signal(process, SIGKILL)
            _ = await ProcessControl.waitForExit(process, seconds: 2)
            unlink(metadata.apiSocketPath)
            metadata.process = nil
            metadata.status = .failed
            metadata.stateReason = "qemu did not start: \(error.message)"
            try? metadata.save(to: stateFile(id))
            throw error
        }
        metadata.status = .running
        try metadata.save(to: stateFile(id))
        return metadata.state
    }

    private func halt(_ id: VMID, gracePeriod: Double) async throws(ProviderError) -> MicroVMState {
        guard var metadata = try ownMetadata(id) else {
            throw ProviderError(.notFound, "vm not found: \(id)")
        }
        var reason = metadata.stateReason ?? "stopped"
        if let process = metadata.process, ProcessControl.isAlive(process) {
            let start = ContinuousClock.now
            if await powerDown(process, metadata: metadata, gracePeriod: gracePeriod) {
                reason = StopOutcome.graceful(seconds: StopOutcome.seconds(since: start)).reason
            } else {
                reason = StopOutcome.forced(gracePeriod: gracePeriod).reason
            }
            await quit(process, metadata: metadata)
        }
        metadata.process = nil
        metadata.status = .stopped
        metadata.stateReason = reason
        try metadata.save(to: stateFile(id))
        logger.info("vm stopped", metadata: [EdgeLogKey.vmID: "\(id)", EdgeLogKey.reason: "\(reason)"])
        return metadata.state
    }

    private func remove(_ id: VMID) async throws(ProviderError) {
        if var metadata = try ownMetadata(id), let process = metadata.process {
            await quit(process, metadata: metadata)
            metadata.process = nil
            metadata.status = .stopped
            try metadata.save(to: stateFile(id))
        }
        try await layout.delete(id)
    }

    /// Checks the VM's QEMU and records what became of a QEMU that is gone or a guest that
    /// is no longer running.
    private func reconcile(_ id: VMID) async throws(ProviderError) -> MicroVMState? {
        guard var metadata = try VMMetadata.load(from: stateFile(id)) else {
            return nil
        }
        guard metadata.hypervisor == Self.hypervisorName else {
            // A VM another provider made: its VMM is not QEMU; reported as recorded.
            return metadata.state
        }
        SerialConsole(path: metadata.consolePath).rotateIfNeeded()
        guard let process = metadata.process else {
            return metadata.state
        }
        guard ProcessControl.isAlive(process) else {
            metadata.recordVMMGone("qemu exited")
            try metadata.save(to: stateFile(id))
            logger.info("qemu is gone", metadata: [EdgeLogKey.vmID: "\(id)", EdgeLogKey.reason: "\(metadata.stateReason ?? "")"])
            return metadata.state
        }
        let status: String
        do {
            status = try await qmp(metadata).status()
        } catch {
            logger.warning("qmp query-status failed on a live qemu", metadata: [EdgeLogKey.vmID: "\(id)", EdgeLogKey.error: "\(error)"])
            var state = metadata.state
            state.status = .running
            return state
        }
        switch status {
        case "running":
            var state = metadata.state
            state.status = .running
            return state
        case "shutdown", "guest-panicked", "internal-error", "io-error":
            await quit(process, metadata: metadata)
            metadata.recordVMMGone(status == "shutdown" ? "the guest powered off" : "qemu reported \(status)")
            if status == "guest-panicked" && metadata.status != .failed {
                metadata.status = .failed
                metadata.stateReason = "guest kernel panic (reported by pvpanic)"
            } else if status != "shutdown" && metadata.status != .failed {
                metadata.status = .failed
            }
            try metadata.save(to: stateFile(id))
            logger.info("vm is no longer running", metadata: [EdgeLogKey.vmID: "\(id)", EdgeLogKey.reason: "\(metadata.stateReason ?? "")"])
            return metadata.state
        default:
            var state = metadata.state
            state.status = .running
            state.stateReason = "qemu run state: \(status)"
            return state
        }
    }

    public func reconcileAll() async throws(ProviderError) -> [MicroVMState] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: configuration.runtimeDirectory)) ?? []
        var states: [MicroVMState] = []
        for name in names {
            guard let id = try? VMID(name), let state = try await state(of: id) else { continue }
            states.append(state)
        }
        return states.sorted { $0.id < $1.id }
    }

    public func catalog() -> ProviderCatalog {
        var catalog = layout.catalog()
        catalog.hypervisor = Self.hypervisorName
        catalog.accelerator = accelerator.rawValue
        return catalog
    }

    // MARK: QEMU

    /// QEMU's arguments for the VM.
    func commandLine(_ metadata: VMMetadata) -> [String] {
        let machine: Machine = metadata.kernelPath == nil ? .q35 : self.machine
        let device = machine == .microvm ? "device" : "pci"
        let diskFormat = metadata.diskPath.hasSuffix(".qcow2") ? "qcow2" : "raw"
        var arguments = [
            "-name", "nkudo-\(metadata.vmID.rawValue)",
            "-M", machine.rawValue, "-accel", accelerator.rawValue,
            "-nodefaults", "-no-user-config", "-display", "none",
            "-m", "\(metadata.memoryMiB)", "-smp", "\(metadata.vcpu)",
        ]
        if let kernel = metadata.kernelPath {
            var commandLine = metadata.kernelCommandLine ?? configuration.kernelCommandLine
            if machine == .microvm && accelerator == .tcg {
                // Emulated microvm has no timer to calibrate the TSC against (hardware-reduced
                // ACPI skips the PIT): the host's rate, which TCG's TSC runs at, is given.
                // `reboot=t`: a panicking guest's reset reaches QEMU (then `-no-reboot`).
                commandLine += Self.hostTSCKilohertz.map { " tsc_early_khz=\($0)" } ?? ""
                commandLine += " reboot=t"
            }
            arguments += ["-kernel", kernel, "-append", commandLine]
            if let initrd = metadata.initrdPath {
                arguments += ["-initrd", initrd]
            }
        }
        arguments += [
            "-drive", "id=disk0,file=\(metadata.diskPath),format=\(diskFormat),if=none", "-device", "virtio-blk-\(device),drive=disk0",
            "-drive", "id=seed0,file=\(metadata.cloudInitISOPath),format=raw,if=none,readonly=on", "-device", "virtio-blk-\(device),drive=seed0",
        ]
        if metadata.tapCreated {
            arguments += ["-netdev", "tap,id=net0,ifname=\(metadata.tapName),script=no,downscript=no",
                          "-device", "virtio-net-\(device),netdev=net0,mac=\(metadata.mac)"]
        }
        arguments += [
            "-chardev", "file,id=console0,path=\(metadata.consolePath),append=on", "-serial", "chardev:console0",
            "-device", "pvpanic",
            "-qmp", Self.qmpArgument(metadata), "-no-reboot", "-no-shutdown",
        ]
        return arguments
    }

    private static func qmpArgument(_ metadata: VMMetadata) -> String {
        "unix:\(metadata.apiSocketPath),server=on,wait=off"
    }

    /// The host CPU's TSC rate in kHz (`cpu MHz` of /proc/cpuinfo), nil when unknown.
    private static let hostTSCKilohertz: Int? = {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("cpu MHz") {
            if let value = line.split(separator: ":").last.flatMap({ Double($0.trimmingCharacters(in: .whitespaces)) }) {
                return Int((value * 1000).rounded())
            }
        }
        return nil
    }()

    /// Waits until QMP answers `running`; fails when QEMU exits or `startTimeout` passes.
    private func waitUntilRunning(_ process: ProcessControl.Identity, metadata: VMMetadata) async throws(ProviderError) {
        let deadline = ContinuousClock.now + .seconds(configuration.startTimeout)
        var lastError = ProviderError(.api, "qmp socket \(metadata.apiSocketPath) did not appear")
        while ContinuousClock.now < deadline {
            guard ProcessControl.isAlive(process) else {
                throw ProviderError(.processFailed, "qemu exited during start: \(FileOperations.tail(of: metadata.logPath))")
            }
            if FileOperations.fileType(metadata.apiSocketPath) == .typeSocket {
                do {
                    let status = try await qmp(metadata).status()
                    if status == "running" { return }
                    lastError = ProviderError(.api, "qemu run state is \(status), not running")
                } catch {
                    lastError = error
                }
            }
            do {
                try await Task.sleep(for: .milliseconds(50))
            } catch {
                throw ProviderError(.processFailed, "start cancelled: \(lastError.message)")
            }
        }
        throw ProviderError(.api, "qemu not running after \(configuration.startTimeout) s: \(lastError.message)")
    }

    /// `system_powerdown`, then waits up to `gracePeriod` seconds for the guest to power
    /// off (QEMU's run state `shutdown`, or QEMU gone); whether it did.
    private func powerDown(_ process: ProcessControl.Identity, metadata: VMMetadata, gracePeriod: Double) async -> Bool {
        guard gracePeriod > 0 else { return false }
        CommandRunner.trace("qmp system_powerdown (\(metadata.apiSocketPath))", to: commandsLog(metadata.vmID))
        do {
            _ = try await qmp(metadata).execute("system_powerdown")
        } catch {
            logger.warning("qmp system_powerdown failed", metadata: [EdgeLogKey.vmID: "\(metadata.vmID)", EdgeLogKey.error: "\(error)"])
            return false
        }
        let deadline = ContinuousClock.now + .seconds(gracePeriod)
        while ContinuousClock.now < deadline {
            guard ProcessControl.isAlive(process) else { return true }
            if let status = try? await qmp(metadata).status(), status == "shutdown" { return true }
            guard (try? await Task.sleep(for: .milliseconds(100))) != nil else { return false }
        }
        return false
    }

    /// `quit` through QMP, then SIGTERM, then SIGKILL, until QEMU is gone.
    private func quit(_ process: ProcessControl.Identity, metadata: VMMetadata) async {
        guard ProcessControl.isAlive(process) else { return }
        CommandRunner.trace("qmp quit (\(metadata.apiSocketPath))", to: commandsLog(metadata.vmID))
        _ = try? await qmp(metadata).execute("quit")
        if await ProcessControl.waitForExit(process, seconds: configuration.terminateTimeout) {
            unlink(metadata.apiSocketPath)
            return
        }
        CommandRunner.trace("kill -TERM \(process.pid)", to: commandsLog(metadata.vmID))
        ProcessControl.signal(process, SIGTERM)
        if !(await ProcessControl.waitForExit(process, seconds: configuration.terminateTimeout)) {
            logger.warning("qemu ignored SIGTERM, killing it", metadata: [EdgeLogKey.vmID: "\(metadata.vmID)", EdgeLogKey.pid: "\(process.pid)"])
            CommandRunner.trace("kill -KILL \(process.pid)", to: commandsLog(metadata.vmID))
            ProcessControl.signal(process, SIGKILL)
            _ = await ProcessControl.waitForExit(process, seconds: 2)
        }
        unlink(metadata.apiSocketPath)
    }

    /// The VM's metadata when it is a QEMU VM; nil when it does not exist.
    ///
    /// - Throws: ``ProviderError/Code/invalidArgument`` for a VM another provider made.
    private func ownMetadata(_ id: VMID) throws(ProviderError) -> VMMetadata? {
        guard let metadata = try VMMetadata.load(from: stateFile(id)) else { return nil }
        guard metadata.hypervisor == Self.hypervisorName else {
            throw ProviderError(.invalidArgument, "vm \(id) runs on \(metadata.hypervisor ?? VMMetadata.cloudHypervisor), not on this agent's qemu")
        }
        return metadata
    }
}
