import ArgumentParser
import Foundation
import Logging
import NKudoEdge

/// Options of the VM providers (Cloud Hypervisor, QEMU), shared by `run` and `apply`.
struct ProviderOptions: ParsableArguments {
    @Option(help: "Hypervisor that runs the VMs: cloud-hypervisor or qemu.")
    var hypervisor: HypervisorChoice = .cloudHypervisor

    @Option(name: .customLong("accel"),
            help: "QEMU accelerator: kvm, or tcg (emulation: slow, for hosts without usable KVM such as nested microVMs). With --hypervisor qemu.")
    var accelerator: AcceleratorChoice = .kvm

    @Option(name: .customLong("qemu-machine"),
            help: "QEMU machine type for VMs that boot a kernel: microvm or q35 (VMs without a kernel always use q35). With --hypervisor qemu.")
    var qemuMachine: MachineChoice = .microvm

    @Option(name: .customLong("qemu-bin"), help: "QEMU binary: a name looked up on PATH or a path.")
    var qemuBinary = "qemu-system-x86_64"

    @Option(name: .customLong("runtime-dir"), help: "Directory of the per-VM directories (created 0700).")
    var runtimeDirectory = "/var/lib/nkudo-edge/vms"

    @Option(name: .customLong("image-dir"),
            help: "Directory of the images and kernels plans may name (by file name or sha256:<digest>); repeat for several, searched in order (default: /var/lib/nkudo-edge/images).")
    var imageDirectories: [String] = []

    @Option(name: .customLong("image-cache-dir"), help: "Content-addressed cache of the images VMs use (files 0600).")
    var imageCacheDirectory = "/var/lib/nkudo-edge/image-cache"

    @Option(name: .customLong("allow-kernel-arg"),
            help: "A kernel command-line key plans may use besides the defaults (console, root, ip, quiet, panic, …); repeatable.")
    var allowedKernelArguments: [String] = []

    @Option(name: .customLong("iso-tool"), help: "cloud-localds or genisoimage, a path (default: the first of the two on PATH).")
    var isoTool: String?

    @Option(name: .customLong("cloud-hypervisor-bin"), help: "Cloud Hypervisor binary: a name looked up on PATH or a path.")
    var cloudHypervisorBinary = "cloud-hypervisor"

    @Option(help: "Firmware booted by VMs without a kernel path.")
    var firmware = "/usr/share/cloud-hypervisor/CLOUDHV.fd"

    @Option(help: "Bridge the VMs' TAP devices are attached to.")
    var bridge = "br0"

    @Option(help: "VM networking: tap (a TAP device per VM on --bridge, needs CAP_NET_ADMIN) or none.")
    var network: NetworkChoice = .tap

    /// `--network tap|none`.
    enum NetworkChoice: String, ExpressibleByArgument, CaseIterable {
        case tap, none
    }

    /// `--accel kvm|tcg`.
    enum AcceleratorChoice: String, ExpressibleByArgument, CaseIterable {
        case kvm, tcg
    }

    /// `--qemu-machine microvm|q35`.
    enum MachineChoice: String, ExpressibleByArgument, CaseIterable {
        case microvm, q35
    }

    /// `--hypervisor cloud-hypervisor|qemu`.
    enum HypervisorChoice: String, ExpressibleByArgument, CaseIterable {
        case cloudHypervisor = "cloud-hypervisor"
        case qemu
    }

    /// The provider; no image may lie in `protectedDirectories` (the agent's state and PKI).
    func provider(protectedDirectories: [String], logger: Logger) throws -> any MicroVMProvider {
        do {
            try FileManager.default.createDirectory(atPath: runtimeDirectory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } catch {
            throw CommandFailure("cannot create --runtime-dir \(runtimeDirectory): \(error.localizedDescription)")
        }
        var configuration = CloudHypervisorConfiguration()
        configuration.runtimeDirectory = runtimeDirectory
        configuration.imageDirectories = imageDirectories.isEmpty ? ["/var/lib/nkudo-edge/images"] : imageDirectories
        configuration.imageCacheDirectory = imageCacheDirectory
        configuration.protectedDirectories = protectedDirectories
        configuration.allowedKernelArgumentKeys.formUnion(allowedKernelArguments)
        configuration.isoTool = isoTool
        configuration.cloudHypervisorBinary = cloudHypervisorBinary
        configuration.firmwarePath = firmware
        configuration.bridgeName = bridge
        configuration.networking = network == .tap ? .tap : .disabled
        configuration.qemuBinary = qemuBinary
        switch hypervisor {
        case .cloudHypervisor:
            return CloudHypervisorProvider(configuration: configuration, logger: logger)
        case .qemu:
            return QEMUProvider(configuration: configuration, machine: qemuMachine == .q35 ? .q35 : .microvm,
                                accelerator: accelerator == .tcg ? .tcg : .kvm, logger: logger)
        }
    }
}

/// A command failure: printed as one `error: …` line on stderr, exit status 1.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}
