import Foundation

/// The cloud-init NoCloud seed of a VM (`user-data`, `meta-data`, `network-config`)
/// and the ISO built from it with `cloud-localds` or `genisoimage`. Every value that comes
/// from a plan or the configuration is a YAML double-quoted scalar (``yamlQuoted(_:)``):
/// a name with a newline, `:`, `#` or quotes stays one value and never adds keys.
struct CloudInitSeed {
    var id: VMID
    var hostname: String
    var mac: String
    var sshAuthorizedKeys: [String]
    /// The plan's own user-data, used verbatim instead of the agent's; nil: the agent's.
    var customUserData: String? = nil

    /// The keys, trimmed, blank ones dropped.
    private var keys: [String] {
        sshAuthorizedKeys.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty }
    }

    /// `meta-data`: instance id, hostname and the SSH keys (NoCloud's `public-keys`).
    var metaData: String {
        var text = "instance-id: \(Self.yamlQuoted(id.rawValue))\nlocal-hostname: \(Self.yamlQuoted(hostname))\n"
        if !keys.isEmpty {
            text += "public-keys:\n" + keys.map { "  - \(Self.yamlQuoted($0))\n" }.joined()
        }
        return text
    }

    /// `user-data`: the plan's own when it gave one, else user `nkudo` with the keys,
    /// password login locked.
    var userData: String {
        if let customUserData {
            return customUserData
        }
        return agentUserData
    }

    private var agentUserData: String {
        var lines = [
            "#cloud-config",
            "hostname: \(Self.yamlQuoted(hostname))",
            "users:",
            "  - name: nkudo",
            "    sudo: ALL=(ALL) NOPASSWD:ALL",
            "    groups: [sudo]",
            "    shell: /bin/bash",
            "    lock_passwd: true",
        ]
        if keys.isEmpty {
            lines.append("    ssh_authorized_keys: []")
        } else {
            lines.append("    ssh_authorized_keys:")
            lines += keys.map { "      - \(Self.yamlQuoted($0))" }
        }
        lines.append("package_update: false")
        return lines.joined(separator: "\n") + "\n"
    }

    /// `network-config` (version 2): DHCP on the NIC with the VM's MAC.
    var networkConfig: String {
        """
        version: 2
        ethernets:
          primary:
            match:
              macaddress: \(Self.yamlQuoted(mac))
            set-name: eth0
            dhcp4: true

        """
    }

    /// `text` as a YAML double-quoted scalar: `\` and `"` escaped, every control
    /// character and every character YAML reads as a line break (U+0085, U+2028, U+2029) or
    /// byte-order mark escaped as `\uXXXX`; other characters as they are (UTF-8).
    static func yamlQuoted(_ text: String) -> String {
        var quoted = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\": quoted += "\\\\"
            case "\"": quoted += "\\\""
            case "\n": quoted += "\\n"
            case "\t": quoted += "\\t"
            case _ where scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar.value == 0x2028 || scalar.value == 0x2029
                || scalar.value == 0xFEFF:
                let hex = String(scalar.value, radix: 16, uppercase: true)
                quoted += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: quoted.unicodeScalars.append(scalar)
            }
        }
        return quoted + "\""
    }

    /// Writes the seed files into `directory` and builds `iso` from them with `tool`
    /// (`cloud-localds` or `genisoimage`, told apart by file name).
    func build(in directory: String, iso: String, tool: String, runner: CommandRunner, commandsLog: String) async throws(ProviderError) {
        try FileOperations.createDirectory(directory)
        let userData = "\(directory)/user-data"
        let metaData = "\(directory)/meta-data"
        let networkConfig = "\(directory)/network-config"
        try FileOperations.writeAtomically(Data(self.userData.utf8), to: userData)
        try FileOperations.writeAtomically(Data(self.metaData.utf8), to: metaData)
        try FileOperations.writeAtomically(Data(self.networkConfig.utf8), to: networkConfig)
        let arguments: [String]
        if URL(fileURLWithPath: tool).lastPathComponent.contains("genisoimage") {
            arguments = ["-output", iso, "-volid", "cidata", "-joliet", "-rock", userData, metaData, networkConfig]
        } else {
            arguments = ["--network-config=\(networkConfig)", iso, userData, metaData]
        }
        do {
            try await runner.run(tool, arguments, traceTo: commandsLog)
        } catch {
            throw ProviderError(.commandFailed, "build cloud-init iso: \(error.message)")
        }
    }

    /// The ISO tool to use: `configured`, else `cloud-localds` or `genisoimage` from `PATH`.
    static func resolveTool(_ configured: String?) throws(ProviderError) -> String {
        if let configured {
            return configured
        }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"
        for tool in ["cloud-localds", "genisoimage"] {
            for directory in path.split(separator: ":") where FileManager.default.isExecutableFile(atPath: "\(directory)/\(tool)") {
                return "\(directory)/\(tool)"
            }
        }
        throw ProviderError(.commandFailed, "cloud-init ISO builder not found (need cloud-localds or genisoimage)")
    }
}
