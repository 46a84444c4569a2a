public import Foundation

/// Lifecycle status of a microVM as a provider reports it.
public enum MicroVMStatus: String, Sendable, Hashable, Codable {
    /// Created (disk, seed, TAP ready), never started.
    case created
    /// The VMM process is alive and the guest is running.
    case running
    /// Not running: stopped, or the guest powered off.
    case stopped
    /// Not running because the guest or its VMM failed (a guest kernel panic, a VMM that
    /// crashed); the state's reason says what happened.
    case failed

    /// The upper-case spelling of heartbeats and the state store (`CREATED`, `RUNNING`, `STOPPED`).
    public var reportedName: String { rawValue.uppercased() }
}

/// What to create: a provider-level VM spec, already defaulted. It names what the VM
/// runs, never where on the host it is: the provider resolves the names in its own image
/// library and names the VM's TAP device itself (``TAPName``).
public struct MicroVMSpec: Sendable, Hashable {
    /// The VM's id.
    public var id: VMID
    /// Display name and default hostname.
    public var name: String
    /// Virtual CPUs (> 0).
    public var vcpu: Int
    /// Memory in MiB (> 0).
    public var memoryMiB: Int
    /// Kernel to boot directly (`--kernel`); nil boots the configured firmware.
    public var kernel: ImageReference?
    /// Extra kernel command-line words, appended to the configured command line (kernel
    /// boot only); each must pass ``KernelArguments``.
    public var kernelArguments: [String]
    /// The disk image the VM's disk is a copy of; nil creates a blank sparse disk.
    public var image: ImageReference?
    /// Initial ramdisk given with `kernel`.
    public var initrd: ImageReference?
    /// SSH public keys for the guest (cloud-init), besides the agent's configured ones.
    public var sshAuthorizedKeys: [String]
    /// cloud-init user-data replacing the agent's own; nil keeps the agent's.
    public var userData: String?

    /// The longest user-data accepted, in bytes.
    public static let maximumUserDataBytes = 16 * 1024

    /// A spec with the original's defaults: 1 vCPU, 256 MiB, name = id.
    public init(id: VMID, name: String? = nil, vcpu: Int = 1, memoryMiB: Int = 256, kernel: ImageReference? = nil,
                kernelArguments: [String] = [], image: ImageReference? = nil, initrd: ImageReference? = nil,
                sshAuthorizedKeys: [String] = [], userData: String? = nil) {
        self.id = id
        self.name = name ?? id.rawValue
        self.vcpu = vcpu
        self.memoryMiB = memoryMiB
        self.kernel = kernel
        self.kernelArguments = kernelArguments
        self.image = image
        self.initrd = initrd
        self.sshAuthorizedKeys = sshAuthorizedKeys
        self.userData = userData
    }
}

/// A VM as the provider sees it (the state store's and heartbeat's `microvms[]` element).
public struct MicroVMState: Sendable, Hashable {
    /// The VM's id.
    public var id: VMID
    /// Display name.
    public var name: String
    /// Virtual CPUs.
    public var vcpu: Int
    /// Memory in MiB.
    public var memoryMiB: Int
    /// Kernel image booted directly; empty when the VM boots firmware.
    public var kernelPath: String
    /// The VM's own (cloned) disk.
    public var diskPath: String
    /// TAP device name.
    public var tapName: String
    /// VMM process id, 0 when not running.
    public var pid: Int32
    /// Status, checked against the live process and the VMM's `vm.info`.
    public var status: MicroVMStatus
    /// When the provider last changed the VM's metadata.
    public var updatedAt: Date
    /// Why the VM is in its status (`guest powered off`, `guest kernel panic: …`); `""`: none.
    public var stateReason: String
    /// The hypervisor that runs the VM (`cloud-hypervisor` or `qemu`).
    public var hypervisor: String
    /// The VM's serial console file; `""` when it has none.
    public var consolePath: String

    /// A VM state.
    public init(id: VMID, name: String, vcpu: Int = 1, memoryMiB: Int = 256, kernelPath: String = "", diskPath: String,
                tapName: String, pid: Int32, status: MicroVMStatus, updatedAt: Date, stateReason: String = "",
                hypervisor: String = "", consolePath: String = "") {
        self.stateReason = stateReason
        self.hypervisor = hypervisor
        self.consolePath = consolePath
        self.id = id
        self.name = name
        self.vcpu = vcpu
        self.memoryMiB = memoryMiB
        self.kernelPath = kernelPath
        self.diskPath = diskPath
        self.tapName = tapName
        self.pid = pid
        self.status = status
        self.updatedAt = updatedAt
    }
}

/// Runs microVMs on this host. Every operation is idempotent: creating an existing VM,
/// starting a running one, stopping a stopped one and deleting a missing one succeed
/// without doing anything. Operations observe task cancellation. Operations on the
/// same VM must not overlap (the executor runs one action at a time).
public protocol MicroVMProvider: Sendable {
    /// Creates the VM's disk, cloud-init seed and network device; returns its state.
    func create(_ spec: MicroVMSpec) async throws(ProviderError) -> MicroVMState
    /// Starts the VM's VMM, detached from the agent, and waits until its guest runs.
    func start(_ id: VMID) async throws(ProviderError) -> MicroVMState
    /// Shuts the guest down gracefully (ACPI power button), waiting up to `gracePeriod`
    /// seconds, then stops the VMM forcibly; the state's reason says which happened.
    func stop(_ id: VMID, gracePeriod: Double) async throws(ProviderError) -> MicroVMState
    /// Stops the VM if needed and removes everything the provider created for it.
    func delete(_ id: VMID) async throws(ProviderError)
    /// The VM's true current state (process liveness and `vm.info`), nil when it does not exist.
    func state(of id: VMID) async throws(ProviderError) -> MicroVMState?
    /// Reconciles every VM in the provider's runtime directory with reality and returns
    /// their true states, sorted by id. Dead VMMs are recorded as stopped.
    func reconcileAll() async throws(ProviderError) -> [MicroVMState]
    /// What the provider can give its VMs (images, kernel-argument keys) and how it runs them.
    func catalog() -> ProviderCatalog
}

extension MicroVMProvider {
    /// ``stop(_:gracePeriod:)`` with a grace period of 15 s.
    public func stop(_ id: VMID) async throws(ProviderError) -> MicroVMState {
        try await stop(id, gracePeriod: 15)
    }
}
