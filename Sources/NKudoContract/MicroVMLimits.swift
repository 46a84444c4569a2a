/// The largest microVM a plan may ask for, checked by the control plane when a plan is
/// applied, by the agent before it starts a VMM and by `nkudo` on its flags. Far above any
/// host (KVM's own limit is 1,024 vCPUs), they only keep absurd numbers out: a VM stored
/// with 10^15 MiB made every listing of its site trap in `nkudo`.
public enum MicroVMLimits {
    /// Most virtual CPUs of one VM.
    public static let maximumVCPUs: Int32 = 1024
    /// Most memory of one VM, in MiB (1 PiB).
    public static let maximumMemoryMiB: Int64 = 1 << 30
}
