import NKudoContract

/// What a CREATE action asks its VM to run, checked before the plan is stored: names of
/// the agents' images (never paths), kernel arguments, SSH keys and user-data within their
/// limits, and images that an ONLINE host of the site has. The agent checks them again
/// (it trusts only itself); this check gives the tenant a 400 at apply time instead of a
/// failed execution later, wherever the control plane can tell.
struct VMBootRequest: Sendable, Hashable {
    /// Longest image name, in bytes (the usual file-name limit, as the agents enforce).
    static let maximumNameLength = 255
    /// Most kernel arguments per CREATE.
    static let maximumKernelArguments = 32
    /// Longest kernel argument, in bytes (as the agents enforce).
    static let maximumKernelArgumentLength = 256
    /// Most SSH keys per CREATE.
    static let maximumSSHKeys = 16
    /// Longest SSH key line, in bytes.
    static let maximumSSHKeyLength = 8 * 1024
    /// Largest user-data, in bytes.
    static let maximumUserDataBytes = 16 * 1024

    /// Disk image, kernel and initrd names; `""` when not named.
    var image: String
    var kernel: String
    var initrd: String
    /// Kernel command-line words, trimmed, blanks dropped.
    var kernelArguments: [String]

    /// The boot request of `action` (a CREATE), checked in shape; `label` names the action
    /// in errors (`actions[0]`).
    ///
    /// - Throws: ``APIError/badRequest(_:)`` naming the field for a path or malformed
    ///   name, a kernel argument that is not `key` or `key=value` of safe characters,
    ///   kernel arguments or an initrd without a kernel, too many or malformed SSH keys,
    ///   or oversized user-data.
    init(_ action: ApplyPlanRequest.Action, label: String) throws {
        image = try Self.checkedName(action.image, field: "\(label).image")
        kernel = try Self.checkedName(action.kernel, field: "\(label).kernel")
        initrd = try Self.checkedName(action.initrd, field: "\(label).initrd")
        kernelArguments = action.kernelArgs.map { String($0.trimmedBlanks) }.filter { !$0.isEmpty }
        if !initrd.isEmpty && kernel.isEmpty {
            throw APIError.badRequest("\(label).initrd needs \(label).kernel")
        }
        if !kernelArguments.isEmpty && kernel.isEmpty {
            throw APIError.badRequest("\(label).kernel_args need \(label).kernel: a VM without a kernel boots firmware")
        }
        guard kernelArguments.count <= Self.maximumKernelArguments else {
            throw APIError.badRequest("\(label).kernel_args: at most \(Self.maximumKernelArguments) words")
        }
        for argument in kernelArguments where Self.key(of: argument) == nil {
            throw APIError.badRequest(
                "\(label).kernel_args: \"\(argument.prefix(80))\" is not key or key=value of letters, digits and .,:/=+@_- "
                    + "(at most \(Self.maximumKernelArgumentLength) bytes)")
        }
        guard action.sshAuthorizedKeys.count <= Self.maximumSSHKeys else {
            throw APIError.badRequest("\(label).ssh_authorized_keys: at most \(Self.maximumSSHKeys) keys")
        }
        for key in action.sshAuthorizedKeys where !Self.isSSHKey(key) {
            throw APIError.badRequest(
                "\(label).ssh_authorized_keys: \"\(key.prefix(40))…\" is not one SSH public key line (ssh-…, ecdsa-… or sk-…, "
                    + "at most \(Self.maximumSSHKeyLength) bytes)")
        }
        guard action.userData.utf8.count <= Self.maximumUserDataBytes else {
            throw APIError.badRequest("\(label).user_data is \(action.userData.utf8.count) bytes; at most \(Self.maximumUserDataBytes)")
        }
    }

    /// The images this request names.
    var namedImages: [(field: String, name: String)] {
        [("image", image), ("kernel", kernel), ("initrd", initrd)].filter { !$0.name.isEmpty }
    }

    /// Checks that one ONLINE host of `hosts` has every named image (by name or digest) and
    /// allows every kernel-argument key; nothing to check when nothing is named.
    ///
    /// - Throws: ``APIError/badRequest(_:)`` naming what no ONLINE host has.
    func requireHost(among hosts: [HostImages], label: String) throws {
        guard !namedImages.isEmpty else { return }
        let online = hosts.filter { $0.agentState == .online }
        if online.contains(where: canRun) { return }
        for (field, name) in namedImages where !online.contains(where: { Self.has(name, $0) }) {
            throw APIError.badRequest(
                "\(label).\(field) \"\(name)\" is on no ONLINE host of the site (GET /sites/{site_id}/images lists what they have)")
        }
        for argument in kernelArguments {
            let key = Self.key(of: argument) ?? argument
            if !online.contains(where: { $0.kernelArgKeys.contains(key) }) {
                throw APIError.badRequest("\(label).kernel_args: key \(key) is allowed by no ONLINE host of the site")
            }
        }
        throw APIError.badRequest("\(label): no ONLINE host of the site has all of its images and allows all of its kernel_args")
    }

    /// Whether `host` has every named image and allows every kernel-argument key.
    private func canRun(_ host: HostImages) -> Bool {
        namedImages.allSatisfy { Self.has($0.name, host) }
            && kernelArguments.allSatisfy { host.kernelArgKeys.contains(Self.key(of: $0) ?? $0) }
    }

    private static func has(_ reference: String, _ host: HostImages) -> Bool {
        host.images.contains { $0.name == reference || $0.digest == reference }
    }

    /// `name` when it is `""`, an image file name or `sha256:` and 64 lower-case hex digits.
    private static func checkedName(_ name: String, field: String) throws -> String {
        guard !name.isEmpty else { return "" }
        if name.hasPrefix("sha256:") {
            let hex = name.utf8.dropFirst("sha256:".utf8.count)
            guard hex.count == 64, hex.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0) }) else {
                throw APIError.badRequest("\(field) \"\(name.prefix(80))\" is not sha256: and 64 lower-case hex digits")
            }
            return name
        }
        guard !name.contains("/") else {
            throw APIError.badRequest("\(field) \"\(name.prefix(80))\" is a path; name an image of the site's hosts (its file name, or sha256:<digest>)")
        }
        guard name.utf8.count <= maximumNameLength, !name.hasPrefix("."), name.utf8.allSatisfy(isNameByte) else {
            throw APIError.badRequest(
                "\(field) \"\(name.prefix(80))\" is not an image name: 1-\(maximumNameLength) of A-Z, a-z, 0-9, '.', '_', '+', '-', not starting with '.'")
        }
        return name
    }

    /// The key of a kernel argument (`key` or `key=value` of safe bytes), nil when malformed.
    private static func key(of argument: String) -> String? {
        guard argument.utf8.count <= maximumKernelArgumentLength, argument.utf8.allSatisfy(isArgumentByte) else { return nil }
        let key = argument.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)[0]
        return key.isEmpty ? nil : String(key)
    }

    private static func isSSHKey(_ key: String) -> Bool {
        let line = key.trimmedBlanks
        return !line.isEmpty && line.utf8.count <= maximumSSHKeyLength && !line.contains(where: \.isNewline)
            && (line.hasPrefix("ssh-") || line.hasPrefix("ecdsa-") || line.hasPrefix("sk-"))
    }

    private static func isNameByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "+"), UInt8(ascii: "-"):
            true
        default:
            false
        }
    }

    private static func isArgumentByte(_ byte: UInt8) -> Bool {
        isNameByte(byte) || byte == UInt8(ascii: ",") || byte == UInt8(ascii: ":") || byte == UInt8(ascii: "/")
            || byte == UInt8(ascii: "=") || byte == UInt8(ascii: "@")
    }
}
