// The totals the control plane stores of a host's facts, derived the same way by the agent
// that sends them and by the control plane that accepts nested `host_facts`.
extension HostFacts {
    /// The storage of the host: the sum of its disks' (distinct filesystems') sizes. A
    /// negative size counts as none and the sum stops at `Int64.max`: the control plane
    /// takes these numbers from the network, and a plain `+` trapped on an overflow.
    public var storageBytesTotal: Int64 {
        disks.reduce(0) { total, disk in
            let (sum, overflow) = total.addingReportingOverflow(max(disk.totalBytes, 0))
            return overflow ? .max : sum
        }
    }

    /// Whether KVM is usable: `/dev/kvm` present, readable and writable.
    public var kvmUsable: Bool {
        kvm.map { $0.present && $0.readable && $0.writable } ?? false
    }
}
