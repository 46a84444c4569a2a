public import AsyncHTTPClient
import Foundation
public import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Runs microVMs with Cloud Hypervisor (edge-agent reference §6, with its defects fixed).
///
/// Each VM lives in `<runtime dir>/<vm id>/` (0700): `state.json` (metadata, atomic
/// writes), `commands.log`, the cloned disk (0600), `seed/` and `cloud-init.iso`,
/// `api.sock`, `vmm.log` (the VMM's stdout and stderr) and `console.log` (serial). The VMM
/// runs in its own session, detached from the agent: it outlives the action that started
/// it and agent restarts. Its identity (PID and start time) is kept in the metadata, and
/// its state is read back through the REST API on `api.sock`.
///
/// What touches the host is the agent's own choice: images and kernels come from its
/// ``ImageLibrary``, kernel arguments pass ``KernelArguments``, the TAP device is named
/// from the VM id, created by the provider and marked as its own (the interface's alias
/// `nkudo-vm:<vm id>`); an interface it did not create is never enslaved or deleted.
public final class CloudHypervisorProvider: MicroVMProvider {
    /// The provider's settings.
    public let configuration: CloudHypervisorConfiguration
    /// Where images come from.
    public let images: ImageLibrary
    private let httpClient: HTTPClient
    private let logger: Logger
    /// Keeps each VM's operations and reconciliation apart.
    private let gate = VMOperationGate()

    /// A provider with `configuration`, talking to VMMs through `httpClient`.
    public init(configuration: CloudHypervisorConfiguration, httpClient: HTTPClient = .shared, logger: Logger) {
        self.configuration = configuration
        self.images = ImageLibrary(directories: configuration.imageDirectories, cacheDirectory: configuration.imageCacheDirectory,
                                   protectedDirectories: configuration.protectedDirectories + [configuration.runtimeDirectory])
        self.httpClient = httpClient
        self.logger = logger
    }

    // MARK: Paths

    /// The directory of VM `id`: always a direct child of the runtime directory.
    public func directory(of id: VMID) -> String {
        "\(configuration.runtimeDirectory)/\(id.rawValue)"
    }

    private func stateFile(_ id: VMID) -> String { "\(directory(of: id))/state.json" }
    private func commandsLog(_ id: VMID) -> String { "\(directory(of: id))/commands.log" }
    private func apiSocket(_ id: VMID) -> String { "\(directory(of: id))/api.sock" }

    private var runner: CommandRunner {
        CommandRunner(timeout: configuration.commandTimeout, logger: logger)
    }

    private func api(_ metadata: VMMetadata, timeout: Double? = nil) -> CloudHypervisorAPIClient {
        CloudHypervisorAPIClient(socketPath: metadata.apiSocketPath, httpClient: httpClient,
                                 timeout: timeout ?? configuration.requestTimeout)
    }

    // MARK: Operations

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

    // MARK: Create

    private func make(_ spec: MicroVMSpec) async throws(ProviderError) -> MicroVMState {
        guard spec.vcpu > 0, spec.memoryMiB > 0 else {
            throw ProviderError(.invalidArgument, "vcpu and memory must be > 0")
        }
        let kernelArguments = try KernelArguments.validated(spec.kernelArguments, allowedKeys: configuration.allowedKernelArgumentKeys)
        if !kernelArguments.isEmpty && spec.kernel == nil {
            throw ProviderError(.invalidArgument, "kernel arguments need a kernel: a VM without one boots firmware")
        }
        let id = spec.id
        let tapName = TAPName.derived(from: id)
        let directory = directory(of: id)
        guard apiSocket(id).utf8.count < 108 else {
            throw ProviderError(.invalidArgument, "api socket path \(apiSocket(id)) is too long for a unix socket")
        }
        if let existing = try VMMetadata.load(from: stateFile(id)) {
            logger.info("vm already created", metadata: [EdgeLogKey.vmID: "\(id)"])
            return existing.state
        }
        // Everything a plan names is resolved before anything is created.
        let image = try spec.image.map { reference throws(ProviderError) in try images.cachedCopy(of: reference, field: "image") }
        let kernel = try spec.kernel.map { reference throws(ProviderError) in try images.cachedCopy(of: reference, field: "kernel") }
        if spec.initrd != nil && spec.kernel == nil {
            throw ProviderError(.invalidArgument, "an initrd needs a kernel")
        }
        let initrd = try spec.initrd.map { reference throws(ProviderError) in try images.cachedCopy(of: reference, field: "initrd") }
        let seed = CloudInitSeed(id: id, hostname: spec.name, mac: TAPName.mac(for: id),
                                 sshAuthorizedKeys: configuration.sshAuthorizedKeys + spec.sshAuthorizedKeys, customUserData: spec.userData)
        try FileOperations.createDirectory(configuration.runtimeDirectory)
        if FileOperations.fileType(directory) != nil {
            // A directory without metadata is what an interrupted create leaves behind.
            try? FileManager.default.removeItem(atPath: directory)
        }
        try FileOperations.createDirectory(directory)
        var tapCreated = false
        do {
            let mac = TAPName.mac(for: id)
            let diskPath: String
            if let image {
                diskPath = "\(directory)/disk.\(image.fileExtension == "qcow2" ? "qcow2" : "raw")"
                try FileOperations.copyAtomically(from: image.path, to: diskPath)
            } else {
                diskPath = "\(directory)/disk.raw"
                try FileOperations.createSparseFile(at: diskPath, sizeMiB: configuration.blankDiskSizeMiB)
            }
            let iso = "\(directory)/cloud-init.iso"
            try await seed.build(in: "\(directory)/seed", iso: iso, tool: try CloudInitSeed.resolveTool(configuration.isoTool),
                                 runner: runner, commandsLog: commandsLog(id))
            if configuration.networking == .tap {
                try await createTAP(tapName, for: id)
                tapCreated = true
            }
            let now = Date()
            var metadata = VMMetadata(
                vmID: id, name: spec.name, vcpu: spec.vcpu, memoryMiB: spec.memoryMiB,
                kernelPath: kernel?.path, initrdPath: initrd?.path,
                kernelCommandLine: kernel == nil ? nil : ([configuration.kernelCommandLine] + kernelArguments).joined(separator: " "),
                firmwarePath: kernel == nil ? configuration.firmwarePath : nil,
                sourceImagePath: spec.image?.description, cachedBaseImage: image?.path, diskPath: diskPath,
                cloudInitISOPath: iso, tapName: tapName, tapCreated: tapCreated, tapMarked: tapCreated, bridgeName: configuration.bridgeName,
                mac: mac, apiSocketPath: apiSocket(id), logPath: "\(directory)/vmm.log",
                consolePath: "\(directory)/console.log", process: nil, status: .created, createdAt: now, updatedAt: now)
            try metadata.save(to: stateFile(id))
            logger.info("vm created", metadata: [EdgeLogKey.vmID: "\(id)", EdgeLogKey.tap: "\(tapName)", EdgeLogKey.disk: "\(diskPath)"])
            return metadata.state
        } catch {
            logger.warning("vm create failed, rolling back", metadata: [EdgeLogKey.vmID: "\(id)", EdgeLogKey.error: "\(error)"])
            let createdTAP = tapCreated ? tapName : nil
            await Self.uncancelled { [self] in
                if let createdTAP {
                    await deleteTAP(createdTAP, for: id)
                }
                try? FileManager.default.removeItem(atPath: directory)
            }
            throw error
        }
    }

    /// `ip tuntap add`, `ip link set alias` (the mark of an interface this provider made),
    /// `ip link set master`, `ip link set up`; a TAP this call created is deleted again
    /// when a later step fails. An interface of that name that already exists is used only
    /// when it carries this VM's mark (a create interrupted after making it); any other is
    /// refused and left alone.
    private func createTAP(_ name: String, for id: VMID) async throws(ProviderError) {
        let ip = configuration.ipBinary
        let log = commandsLog(id)
        var created = false
        do {
            try await runner.run(ip, ["tuntap", "add", "dev", name, "mode", "tap"], traceTo: log)
            created = true
        } catch {
            switch await tapOwnership(name, for: id) {
            case .own:
                logger.warning("reusing the tap device an interrupted create made", metadata: [EdgeLogKey.vmID: "\(id)", EdgeLogKey.tap: "\(name)"])
            case .foreign:
                throw ProviderError(.commandFailed, "setup tap: interface \(name) exists and was not created by this agent for this VM; refused")
            case .absent:
                throw ProviderError(.commandFailed, "setup tap: \(error.message)")
            }
        }
        do {
            try await runner.run(ip, ["link", "set", "dev", name, "alias", Self.tapAlias(for: id)], traceTo: log)
            try await runner.run(ip, ["link", "set", "dev", name, "master", configuration.bridgeName], traceTo: log)
            try await runner.run(ip, ["link", "set", "dev", name, "up"], traceTo: log)
        } catch {
            await Self.uncancelled { [self, created] in
                if created {
                    await removeTAP(name, for: id)
                } else {
                    await deleteTAP(name, for: id)
                }
            }
            throw ProviderError(.commandFailed, "setup tap: \(error.message)")
        }
    }

    /// Deletes the VM's TAP device if it carries the VM's mark, or, for a VM of a release
    /// before the mark (`legacy`), if it has the name this provider derives for the VM; any
    /// other interface is left alone.
    private func deleteTAP(_ name: String, for id: VMID, legacy: Bool = false) async {
        switch await tapOwnership(name, for: id) {
        case .own:
            await removeTAP(name, for: id)
        case .foreign where legacy && name == TAPName.derived(from: id):
            await removeTAP(name, for: id)
        case .foreign:
            logger.warning("tap device is not this VM's (no nkudo mark); left alone", metadata: [EdgeLogKey.vmID: "\(id)", EdgeLogKey.tap: "\(name)"])
        case .absent:
            break
        }
    }

    /// `ip link del` of a TAP device known to be this VM's.
    private func removeTAP(_ name: String, for id: VMID) async {
        let log = FileOperations.fileType(directory(of: id)) == nil ? nil : commandsLog(id)
        do {
            try await runner.run(configuration.ipBinary, ["link", "del", "dev", name], traceTo: log)
        } catch {
            logger.warning("cannot delete tap device", metadata: [EdgeLogKey.vmID: "\(id)", EdgeLogKey.tap: "\(name)", EdgeLogKey.error: "\(error)"])
        }
    }

    /// The mark of a TAP device this provider made for VM `id`: its interface alias.
    static func tapAlias(for id: VMID) -> String { "nkudo-vm:\(id.rawValue)" }

    /// Whose an interface is.
    private enum TAPOwnership {
        case absent, own, foreign
    }

    /// Whether interface `name` exists and carries VM `id`'s mark (`ip link show` prints
    /// the alias on a line of its own).
    private func tapOwnership(_ name: String, for id: VMID) async -> TAPOwnership {
        guard let shown = try? await runner.run(configuration.ipBinary, ["link", "show", "dev", name], traceTo: nil) else { return .absent }
        let marked = shown.split(separator: "\n").contains { $0.trimmingCharacters(in: .whitespaces) == "alias \(Self.tapAlias(for: id))" }
        return marked ? .own : .foreign
    }

    // MARK: Start

    private func launch(_ id: VMID) async throws(ProviderError) -> MicroVMState {
        guard var metadata = try VMMetadata.load(from: stateFile(id)) else {
            throw ProviderError(.notFound, "vm not found: \(id)")
        }
        if let process = metadata.process, ProcessControl.isAlive(process) {
            let state = try? await api(metadata).info()
            if state == .running {
                logger.info("vm already running", metadata: [EdgeLogKey.vmID: "\(id)", EdgeLogKey.pid: "\(process.pid)"])
                metadata.status = .running
                try metadata.save(to: stateFile(id))
                return metadata.state
            }
            // A VMM left by an interrupted start (not answering yet, or its VM not booted):
            // finish that start instead of launching a second VMM.
            if state == nil || state == .created, try await finishInterruptedStart(id, with: process, metadata: &metadata) {
                return metadata.state
            }
            // A VMM whose guest is not running is replaced by a fresh one.
            await terminate(process, metadata: metadata)
        }
        metadata.process = nil
        if let unrecorded = ProcessControl.find(option: "--api-socket", value: metadata.apiSocketPath) {
            // The agent died between launching this VM's VMM and recording it: adopt it
            // rather than launch a second one next to it.
            logger.warning("adopting an unrecorded VMM of this VM", metadata: [EdgeLogKey.vmID: "\(id)", EdgeLogKey.pid: "\(unrecorded.pid)"])
            metadata.process = unrecorded
            try metadata.save(to: stateFile(id))
            if try await finishInterruptedStart(id, with: unrecorded, metadata: &metadata) {
                return metadata.state
            }
            await terminate(unrecorded, metadata: metadata)
            metadata.process = nil
        }
        if FileOperations.fileType(metadata.apiSocketPath) != nil {
            logger.info("removing stale api socket", metadata: [EdgeLogKey.vmID: "\(id)", EdgeLogKey.path: "\(metadata.apiSocketPath)"])
            guard unlink(metadata.apiSocketPath) == 0 || errno == ENOENT else {
                throw ProviderError(.io, "remove stale api socket \(metadata.apiSocketPath): \(String(cString: strerror(errno)))")
            }
        }
        SerialConsole(path: metadata.consolePath).startNewBoot()
        metadata.stateReason = nil
        let arguments = commandLine(metadata)
        CommandRunner.trace(([configuration.cloudHypervisorBinary] + arguments).map(CommandRunner.quoted).joined(separator: " "),
                            to: commandsLog(id))
        let process = try ProcessControl.spawnDetached(executable: configuration.cloudHypervisorBinary,
                                                       arguments: arguments, logPath: metadata.logPath)
        metadata.process = process
        try metadata.save(to: stateFile(id))
        logger.info("vmm started", metadata: [EdgeLogKey.vmID: "\(id)", EdgeLogKey.pid: "\(process.pid)"])
        do {
            try await waitUntilRunning(process, metadata: metadata)
        } catch {
            logger.warning("vmm did not come up, killing it", metadata: [EdgeLogKey.vmID: "\(id)", EdgeLogKey.error: "\(error)"])
            ProcessControl.signal(process, SIGKILL)
            await Self.uncancelled { await ProcessControl.waitForExit(process, seconds: 2) }
            unlink(metadata.apiSocketPath)
            metadata.process = nil
            metadata.status = .stopped
            try? metadata.save(to: stateFile(id))
            throw error
        }
        metadata.status = .running
        try metadata.save(to: stateFile(id))
        return metadata.state
    }

    /// The VMM's arguments (reference §6.8 plus the boot payload and MAC).
    func commandLine(_ metadata: VMMetadata) -> [String] {
        var arguments = ["--api-socket", metadata.apiSocketPath]
        if let kernel = metadata.kernelPath {
            arguments += ["--kernel", kernel, "--cmdline", metadata.kernelCommandLine ?? configuration.kernelCommandLine]
            if let initrd = metadata.initrdPath {
                arguments += ["--initramfs", initrd]
            }
        } else {
            arguments += ["--firmware", metadata.firmwarePath ?? configuration.firmwarePath]
        }
        arguments += [
            "--cpus", "boot=\(metadata.vcpu)",
            "--memory", "size=\(metadata.memoryMiB)M",
            "--disk", "path=\(metadata.diskPath)",
            "--disk", "path=\(metadata.cloudInitISOPath),readonly=on",
            "--serial", "file=\(metadata.consolePath)",
            "--console", "off",
        ]
        if metadata.tapCreated {
            arguments += ["--net", "tap=\(metadata.tapName),mac=\(metadata.mac)"]
        }
        return arguments
    }

    /// Waits for the API socket, `vmm.ping`, and a running guest (booting it if the VMM
    /// only created it); fails when the VMM exits or `startTimeout` passes.
    /// Waits for `process`, a VMM of this VM left by an interrupted start, to run the guest
    /// and records the VM running; false (logged) when it does not come up: it is then to
    /// be replaced.
    private func finishInterruptedStart(
        _ id: VMID, with process: ProcessControl.Identity, metadata: inout VMMetadata
    ) async throws(ProviderError) -> Bool {
        do {
            try await waitUntilRunning(process, metadata: metadata)
        } catch {
            logger.warning("the VMM of an interrupted start does not come up; replacing it",
                           metadata: [EdgeLogKey.vmID: "\(id)", EdgeLogKey.pid: "\(process.pid)", EdgeLogKey.error: "\(error)"])
            return false
        }
        logger.info("finished an interrupted start", metadata: [EdgeLogKey.vmID: "\(id)", EdgeLogKey.pid: "\(process.pid)"])
        metadata.status = .running
        try metadata.save(to: stateFile(id))
        return true
    }

    private func waitUntilRunning(_ process: ProcessControl.Identity, metadata: VMMetadata) async throws(ProviderError) {
        let deadline = ContinuousClock.now + .seconds(configuration.startTimeout)
        var lastError = ProviderError(.api, "api socket \(metadata.apiSocketPath) did not appear")
        var booted = false
        while ContinuousClock.now < deadline {
            guard ProcessControl.isAlive(process) else {
                throw ProviderError(.processFailed, "cloud-hypervisor exited during start: \(FileOperations.tail(of: metadata.logPath))")
            }
            if FileOperations.fileType(metadata.apiSocketPath) == .typeSocket {
                do {
                    _ = try await api(metadata).ping()
                    switch try await api(metadata).info() {
                    case .running:
                        return
                    case .created where !booted:
                        try await api(metadata).boot()
                        booted = true
                    case let state:
                        lastError = ProviderError(.api, "vm state is \(state?.rawValue ?? "unknown"), not Running")
                    }
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
        throw ProviderError(.api, "cloud-hypervisor not ready after \(configuration.startTimeout) s: \(lastError.message)")
    }

    // MARK: Stop

    private func halt(_ id: VMID, gracePeriod: Double) async throws(ProviderError) -> MicroVMState {
        guard var metadata = try VMMetadata.load(from: stateFile(id)) else {
            throw ProviderError(.notFound, "vm not found: \(id)")
        }
        var reason = metadata.stateReason ?? "stopped"
        if let process = metadata.process, ProcessControl.isAlive(process) {
            let start = ContinuousClock.now
            if await pressPowerButton(process, metadata: metadata, gracePeriod: gracePeriod) {
                reason = StopOutcome.graceful(seconds: StopOutcome.seconds(since: start)).reason
            } else {
                await terminate(process, metadata: metadata)
                reason = StopOutcome.forced(gracePeriod: gracePeriod).reason
            }
            unlink(metadata.apiSocketPath)
        }
        metadata.process = nil
        metadata.status = .stopped
        metadata.stateReason = reason
        try metadata.save(to: stateFile(id))
        logger.info("vm stopped", metadata: [EdgeLogKey.vmID: "\(id)", EdgeLogKey.reason: "\(reason)"])
        return metadata.state
    }

    /// `vm.power-button`, then waits up to `gracePeriod` seconds for the VMM to exit (Cloud
    /// Hypervisor exits when its guest powers off); whether it did.
    private func pressPowerButton(_ process: ProcessControl.Identity, metadata: VMMetadata, gracePeriod: Double) async -> Bool {
        guard gracePeriod > 0, FileOperations.fileType(metadata.apiSocketPath) == .typeSocket else { return false }
        CommandRunner.trace("PUT unix://\(metadata.apiSocketPath) /api/v1/vm.power-button", to: commandsLog(metadata.vmID))
        do {
            try await api(metadata).powerButton()
        } catch {
            logger.warning("vm.power-button failed", metadata: [EdgeLogKey.vmID: "\(metadata.vmID)", EdgeLogKey.error: "\(error)"])
            return false
        }
        return await ProcessControl.waitForExit(process, seconds: gracePeriod)
    }

    /// `vm.shutdown`, `vmm.shutdown`, wait; SIGTERM, wait; SIGKILL. Errors of the API
    /// calls are logged only: the signals follow regardless.
    private func terminate(_ process: ProcessControl.Identity, metadata: VMMetadata) async {
        guard ProcessControl.isAlive(process) else {
            return
        }
        let log = commandsLog(metadata.vmID)
        let metadataKeys: Logger.Metadata = [EdgeLogKey.vmID: "\(metadata.vmID)", EdgeLogKey.pid: "\(process.pid)"]
        if FileOperations.fileType(metadata.apiSocketPath) == .typeSocket {
            CommandRunner.trace("PUT unix://\(metadata.apiSocketPath) /api/v1/vm.shutdown", to: log)
            do {
                try await api(metadata).shutdownVM()
            } catch {
                logger.warning("vm.shutdown failed", metadata: metadataKeys.merging(["error": "\(error)"]) { $1 })
            }
            CommandRunner.trace("PUT unix://\(metadata.apiSocketPath) /api/v1/vmm.shutdown", to: log)
            do {
                try await api(metadata).shutdownVMM()
            } catch {
                logger.warning("vmm.shutdown failed", metadata: metadataKeys.merging(["error": "\(error)"]) { $1 })
            }
            if await ProcessControl.waitForExit(process, seconds: configuration.stopTimeout) {
                unlink(metadata.apiSocketPath)
                return
            }
        }
        CommandRunner.trace("kill -TERM \(process.pid)", to: log)
        ProcessControl.signal(process, SIGTERM)
        if await ProcessControl.waitForExit(process, seconds: configuration.terminateTimeout) {
            unlink(metadata.apiSocketPath)
            return
        }
        logger.warning("vmm ignored SIGTERM, killing it", metadata: metadataKeys)
        CommandRunner.trace("kill -KILL \(process.pid)", to: log)
        ProcessControl.signal(process, SIGKILL)
        _ = await ProcessControl.waitForExit(process, seconds: 2)
        unlink(metadata.apiSocketPath)
    }

    // MARK: Delete

    private func remove(_ id: VMID) async throws(ProviderError) {
        let directory = directory(of: id)
        guard let metadata = try VMMetadata.load(from: stateFile(id)) else {
            if FileOperations.fileType(directory) != nil {
                try? FileManager.default.removeItem(atPath: directory)
            }
            return
        }
        if let process = metadata.process {
            await terminate(process, metadata: metadata)
        }
        if metadata.tapCreated {
            await deleteTAP(metadata.tapName, for: id, legacy: metadata.tapMarked == nil)
        }
        do {
            try FileManager.default.removeItem(atPath: directory)
        } catch {
            throw ProviderError(.io, "remove vm dir \(directory): \(error)")
        }
        logger.info("vm deleted", metadata: [EdgeLogKey.vmID: "\(id)"])
    }

    // MARK: State

    /// Checks the VM's VMM and records what became of a VMM that is gone.
    private func reconcile(_ id: VMID) async throws(ProviderError) -> MicroVMState? {
        guard var metadata = try VMMetadata.load(from: stateFile(id)) else {
            return nil
        }
        guard let process = metadata.process else {
            return metadata.state
        }
        SerialConsole(path: metadata.consolePath).rotateIfNeeded()
        guard ProcessControl.isAlive(process) else {
            metadata.recordVMMGone("the VMM exited (the guest powered off, or the VMM failed)")
            logger.info("vmm is gone", metadata: [EdgeLogKey.vmID: "\(id)", EdgeLogKey.pid: "\(process.pid)",
                                                  EdgeLogKey.reason: "\(metadata.stateReason ?? "")"])
            try metadata.save(to: stateFile(id))
            return metadata.state
        }
        var state = metadata.state
        state.pid = process.pid
        do {
            switch try await api(metadata).info() {
            case .running, .paused:
                state.status = .running
            case .created:
                state.status = .created
            case .shutdown, nil:
                state.status = .stopped
            }
        } catch {
            // A VMM that is exiting right now still looks alive for a moment; look again
            // before reporting it running with an unreachable API.
            for _ in 0..<10 {
                try? await Task.sleep(for: .milliseconds(100))
                if !ProcessControl.isAlive(process) {
                    metadata.recordVMMGone("the VMM exited (the guest powered off, or the VMM failed)")
                    logger.info("vmm exited", metadata: [EdgeLogKey.vmID: "\(id)", EdgeLogKey.pid: "\(process.pid)"])
                    try metadata.save(to: stateFile(id))
                    return metadata.state
                }
            }
            logger.warning("vm.info failed on a live vmm", metadata: [EdgeLogKey.vmID: "\(id)", EdgeLogKey.error: "\(error)"])
            state.status = .running
        }
        return state
    }

    public func reconcileAll() async throws(ProviderError) -> [MicroVMState] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: configuration.runtimeDirectory)) ?? []
        var states: [MicroVMState] = []
        for name in names {
            guard let id = try? VMID(name), let state = try await state(of: id) else {
                continue
            }
            states.append(state)
        }
        return states.sorted { $0.id < $1.id }
    }

    public func catalog() -> ProviderCatalog {
        ProviderCatalog(images: images.catalog(), kernelArgumentKeys: configuration.allowedKernelArgumentKeys.sorted(),
                        hypervisor: VMMetadata.cloudHypervisor,
                        installedHypervisors: ProviderCatalog.installed([(VMMetadata.cloudHypervisor, configuration.cloudHypervisorBinary),
                                                                         ("qemu", configuration.qemuBinary)]),
                        accelerator: "")
    }

    // MARK: Helpers

    /// Runs `body` in a task that does not inherit the caller's cancellation, for
    /// clean-up that must complete after a timeout.
    private static func uncancelled(_ body: @escaping @Sendable () async -> Void) async {
        await Task.detached(operation: body).value
    }
}
