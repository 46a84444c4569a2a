/// Settings of ``CloudHypervisorProvider`` (and of the VM layout the QEMU provider shares
/// with it). Defaults follow the original agent (edge-agent reference §6.1); everything it
/// hard-coded is settable here.
public struct CloudHypervisorConfiguration: Sendable, Hashable {
    /// How the VM's network device is set up.
    public enum Networking: Sendable, Hashable {
        /// Create a TAP per VM with `ip` and attach it to the bridge (production).
        case tap
        /// Create no TAP device and pass none to the VMM; for tests without privileges.
        case disabled
    }

    /// The Cloud Hypervisor binary, a path or a name searched on `PATH`.
    public var cloudHypervisorBinary: String = "cloud-hypervisor"
    /// The QEMU binary (`qemu-system-x86_64`), a path or a name searched on `PATH`; listed
    /// in the host's hypervisors when installed.
    public var qemuBinary: String = "qemu-system-x86_64"
    /// Directory holding one subdirectory per VM.
    public var runtimeDirectory: String = "/var/lib/nkudo-edge/vms"
    /// Where plans' images and kernels are looked up by name, in order (``ImageLibrary``).
    public var imageDirectories: [String] = ["/var/lib/nkudo-edge/images"]
    /// The content-addressed cache VMs use images from.
    public var imageCacheDirectory: String = "/var/lib/nkudo-edge/image-cache"
    /// Directories no image may lie in (the agent's state and PKI directories); the
    /// runtime directory is always one of them.
    public var protectedDirectories: [String] = []
    /// Keys a plan's kernel arguments may use (``KernelArguments``).
    public var allowedKernelArgumentKeys: Set<String> = KernelArguments.defaultAllowedKeys
    /// Firmware booted when a VM has no kernel.
    public var firmwarePath: String = "/usr/share/cloud-hypervisor/CLOUDHV.fd"
    /// Kernel command line used with a kernel; a plan's allowed extra arguments are appended.
    public var kernelCommandLine: String = "console=ttyS0 root=/dev/vda1 rw"
    /// The `ip` binary.
    public var ipBinary: String = "ip"
    /// The ISO tool: `cloud-localds` or `genisoimage` (path or name); nil picks the
    /// first of the two found on `PATH`. The kind is told by the file name.
    public var isoTool: String? = nil
    /// Bridge the VMs' TAP devices are attached to.
    public var bridgeName: String = "br0"
    /// Whether TAP devices are created.
    public var networking: Networking = .tap
    /// Size of a blank disk when a VM has no image, in MiB.
    public var blankDiskSizeMiB: Int = 10240
    /// SSH keys for the guest's `nkudo` user.
    public var sshAuthorizedKeys: [String] = []
    /// How long `start` waits for the API socket and a running guest, in seconds.
    public var startTimeout: Double = 30
    /// How long `stop` waits for the VMM to exit after the shutdown requests, in seconds.
    public var stopTimeout: Double = 15
    /// How long `stop` waits after SIGTERM before SIGKILL, in seconds.
    public var terminateTimeout: Double = 5
    /// Timeout of one REST request to the VMM, in seconds.
    public var requestTimeout: Double = 3
    /// Timeout of one external command (`ip`, the ISO tool), in seconds.
    public var commandTimeout: Double = 60

    /// The defaults.
    public init() {}
}
