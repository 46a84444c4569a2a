import NKudoPKI
/// Network interface names of VM TAP devices.
public enum TAPName {
    /// The kernel's limit on interface names (IFNAMSIZ − 1).
    public static let maximumLength = 15

    /// The default TAP name of a VM: `nk` + the first 10 hex characters of the SHA-256 of
    /// its id (12 characters). Distinct ids get distinct names (up to a 40-bit collision),
    /// unlike the original's truncated slug.
    public static func derived(from id: VMID) -> String {
        "nk" + Digest.sha256Hex(id.rawValue).prefix(10)
    }

    /// Validates an explicitly requested TAP name: 1–15 characters from `[A-Za-z0-9_.-]`,
    /// not `.` or `..`.
    public static func validated(_ name: String) throws(ProviderError) -> String {
        guard !name.isEmpty, name.utf8.count <= maximumLength, name != ".", name != "..",
              name.utf8.allSatisfy(VMID.isSafe)
        else {
            throw ProviderError(.invalidArgument, "invalid tap name \"\(name)\": 1-\(maximumLength) characters from A-Z, a-z, 0-9, '.', '_', '-'")
        }
        return name
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
