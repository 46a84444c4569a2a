import Foundation
public import NKudoContract

/// What a provider can give its VMs and how it runs them: the agent's heartbeats report it
/// (the image catalog when it changes, the hypervisors as host facts).
public struct ProviderCatalog: Sendable, Hashable {
    /// The images of the image directories and the cache, by name.
    public var images: [Image]
    /// The kernel command-line keys plans may use, sorted.
    public var kernelArgumentKeys: [String]
    /// The hypervisor the provider runs VMs with (`cloud-hypervisor`, `qemu`).
    public var hypervisor: String
    /// The hypervisors installed on the host.
    public var installedHypervisors: [String]
    /// The accelerator (`kvm`, `tcg`); `""` when the hypervisor has no choice.
    public var accelerator: String

    /// A catalog.
    public init(images: [Image], kernelArgumentKeys: [String], hypervisor: String, installedHypervisors: [String], accelerator: String) {
        self.images = images
        self.kernelArgumentKeys = kernelArgumentKeys
        self.hypervisor = hypervisor
        self.installedHypervisors = installedHypervisors
        self.accelerator = accelerator
    }

    /// The heartbeat's `image_catalog`.
    public var imageCatalog: HeartbeatRequest.ImageCatalog {
        HeartbeatRequest.ImageCatalog(images: images, kernelArgKeys: kernelArgumentKeys)
    }

    /// The heartbeat's host facts about hypervisors.
    public var hypervisorFacts: HostFacts {
        HostFacts(hypervisors: installedHypervisors, hypervisor: hypervisor, accelerator: accelerator)
    }

    /// Which hypervisors of `binaries` (name → binary, a path or a name on `PATH`) are installed.
    public static func installed(_ binaries: [(name: String, binary: String)]) -> [String] {
        let environment = ProcessInfo.processInfo.environment
        return binaries.filter { ExecutableLookup.find($0.binary, environment: environment) != nil }.map(\.name)
    }
}
