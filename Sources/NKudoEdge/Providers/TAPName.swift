import NKudoPKI
/// Network interface names of VM TAP devices.
public enum TAPName {
    /// The TAP name of a VM, the only one the agent uses: `nk` + the first 10 hex
    /// characters of the SHA-256 of its id (12 characters, within the kernel's 15). Distinct
    /// ids get distinct names (up to a 40-bit collision), unlike the original's truncated
    /// slug; a plan cannot choose it.
    public static func derived(from id: VMID) -> String {
        "nk" + Digest.sha256Hex(id.rawValue).prefix(10)
    }

    /// A locally administered unicast MAC derived from the VM id, stable across starts.
    static func mac(for id: VMID) -> String {
        let hex = Array(Digest.sha256Hex("mac:" + id.rawValue).utf8)
        var octets = ["02"]
        for index in stride(from: 0, to: 10, by: 2) {
            octets.append(String(decoding: hex[index..<index + 2], as: UTF8.self))
        }
        return octets.joined(separator: ":")
    }
}
