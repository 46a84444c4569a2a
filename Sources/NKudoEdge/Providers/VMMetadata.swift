import Foundation

/// A VM's provider metadata, `<vm dir>/state.json` (mode 0600), always rewritten
/// atomically. The VMM's identity (PID and start time) lives here, so liveness survives
/// agent restarts and PID reuse is detected.
struct VMMetadata: Codable, Sendable, Hashable {
    var vmID: VMID
    var name: String
    var vcpu: Int
    var memoryMiB: Int
    var kernelPath: String?
    /// The cached initrd booted with the kernel; nil when none (and in older metadata).
    var initrdPath: String?
    var kernelCommandLine: String?
    var firmwarePath: String?
    var sourceImagePath: String?
    var cachedBaseImage: String?
    var diskPath: String
    var cloudInitISOPath: String
    var tapName: String
    /// Whether this provider created the TAP (and so must delete it).
    var tapCreated: Bool
    /// Whether the TAP carries the provider's mark (its alias); nil in the metadata of a
    /// release before the mark.
    var tapMarked: Bool?
    var bridgeName: String
    var mac: String
    var apiSocketPath: String
    var logPath: String
    var consolePath: String
    var process: ProcessControl.Identity?
    var status: MicroVMStatus
    /// Why the VM is in its status; nil when there is nothing to say (and in older metadata).
    var stateReason: String?
    /// `qemu` for VMs of the QEMU provider; nil for Cloud Hypervisor (and in older metadata).
    var hypervisor: String?
    var createdAt: Date
    var updatedAt: Date

    enum CodingKeys: String, CodingKey {
        case vmID = "vm_id", name, vcpu, memoryMiB = "mem_mb", kernelPath = "kernel_path", initrdPath = "initrd_path"
        case kernelCommandLine = "kernel_cmdline", firmwarePath = "firmware_path"
        case sourceImagePath = "source_image_path", cachedBaseImage = "cached_base_image"
        case diskPath = "disk_path", cloudInitISOPath = "cloud_init_iso_path", tapName = "tap_name"
        case tapCreated = "tap_created", tapMarked = "tap_marked", bridgeName = "bridge_name", mac, apiSocketPath = "api_socket_path"
        case logPath = "log_path", consolePath = "console_path", process, status, stateReason = "state_reason", hypervisor
        case createdAt = "created_at", updatedAt = "updated_at"
    }

    static func load(from path: String) throws(ProviderError) -> VMMetadata? {
        guard FileManager.default.fileExists(atPath: path) else {
            return nil
        }
        do {
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = UTCTimestamp.decodingStrategy
            return try decoder.decode(VMMetadata.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw ProviderError(.io, "read vm metadata \(path): \(error)")
        }
    }

    mutating func save(to path: String) throws(ProviderError) {
        updatedAt = Date()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = UTCTimestamp.encodingStrategy
        let data: Data
        do {
            data = try encoder.encode(self)
        } catch {
            throw ProviderError(.io, "encode vm metadata: \(error)")
        }
        try FileOperations.writeAtomically(data, to: path, mode: 0o600)
    }

    var state: MicroVMState {
        MicroVMState(id: vmID, name: name, vcpu: vcpu, memoryMiB: memoryMiB, kernelPath: kernelPath ?? "", diskPath: diskPath, tapName: tapName,
                     pid: status == .running ? process?.pid ?? 0 : 0, status: status, updatedAt: updatedAt,
                     stateReason: stateReason ?? "", hypervisor: hypervisor ?? VMMetadata.cloudHypervisor, consolePath: consolePath)
    }

    /// The hypervisor name of Cloud Hypervisor VMs.
    static let cloudHypervisor = "cloud-hypervisor"

    /// Records that the VMM is gone: FAILED with the panic when the console shows a guest
    /// kernel panic, else STOPPED with `reason` and the console's last lines.
    mutating func recordVMMGone(_ reason: String) {
        process = nil
        let console = SerialConsole(path: consolePath).tail(limit: 8192)
        if let panic = SerialConsole.panicLine(in: console) {
            status = .failed
            stateReason = "guest kernel panic: \(panic)"
        } else {
            status = .stopped
            let lines = SerialConsole.lastLines(of: console)
            stateReason = lines.isEmpty ? reason : "\(reason); console: \(lines)"
        }
    }
}
