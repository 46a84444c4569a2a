// The totals the control plane stores of a host's facts, derived the same way by the agent
// that sends them and by the control plane that accepts nested `host_facts`.
extension HostFacts {
    /// The storage of the host: the sum of its disks' (distinct filesystems') sizes.
    public var storageBytesTotal: Int64 {
        disks.reduce(0) { $0 + $1.totalBytes }
    }

    /// Whether KVM is usable: `/dev/kvm` present, readable and writable.
    public var kvmUsable: Bool {
        kvm.map { $0.present && $0.readable && $0.writable } ?? false
    }
}
