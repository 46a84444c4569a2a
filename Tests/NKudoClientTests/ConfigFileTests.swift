import Foundation
@testable import NKudoClient
import Testing

@Suite("nkudo config file")
struct ConfigFileTests {
    static func temporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appending(path: "nkcfg-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test("what nkudo writes it reads back, 0600 in a 0700 directory, with odd names and values quoted")
    func roundTrip() throws {
        let root = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        var config = ConfigFile(path: root + "/nkudo/config.toml")
        var prod = ConfigFile.Context(name: "prod.eu")
        prod.url = "https://cp.example.com:8443"
        prod.apiKey = "nk_\"quoted\"\\ key"
        prod.tenantID = "0b7d6f0e-1111-4222-8333-444455556666"
        prod.caFingerprint = String(repeating: "ab", count: 32)
        prod.caFile = "ca/x.pem"
        var lab = ConfigFile.Context(name: "lab")
        lab.url = "https://10.0.0.1:8443"
        lab.adminKey = "admin\tkey"
        config.set(prod)
        config.set(lab)
        config.currentContext = "lab"
        try config.save()
        let attributes = try FileManager.default.attributesOfItem(atPath: config.path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let directory = try FileManager.default.attributesOfItem(atPath: root + "/nkudo")
        #expect((directory[.posixPermissions] as? Int) == 0o700)
        let read = try ConfigFile.load(path: config.path)
        #expect(read == config)
        #expect(config.text.contains("[contexts.\"prod.eu\"]"))
    }

    @Test("a missing file is an empty configuration")
    func missing() throws {
        let config = try ConfigFile.load(path: "/nonexistent/nkudo/config.toml")
        #expect(config.contexts.isEmpty && config.currentContext == nil)
    }

    @Test("bad files are refused with the line and the reason", arguments: [
        ("current-context = \"a\"\nurl = \"x\"\n", 2, "unknown setting url"),
        ("[contexts.a]\nurl = https://x\n", 2, "values must be strings"),
        ("[contexts.a]\nurl = \"x\"\nurl = \"y\"\n", 3, "contexts.a.url is set twice"),
        ("# comment\n\n[contexts.a]\ncolor = \"red\"\n", 4, "unknown context setting color"),
        ("[other]\nx = \"1\"\n", 2, "unknown table [other]"),
        ("[contexts.a\n", 1, "expected \"]\""),
        ("[contexts.a]\nurl = \"unterminated\n", 2, "unterminated string"),
        ("[contexts.a]\nurl = \"x\" trailing\n", 2, "unexpected text after the value"),
        ("[contexts.a]\nurl = \"\\q\"\n", 2, "unknown escape"),
    ])
    func badFiles(text: String, line: Int, reason: String) throws {
        let root = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let path = root + "/config.toml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let error = try #require(throws: ClientError.self) { try ConfigFile.load(path: path) }
        #expect(error.kind == .usage)
        #expect(error.message.hasPrefix("\(path):\(line): "), "\(error.message)")
        #expect(error.message.contains(reason), "\(error.message)")
    }

    @Test("a file with keys that group or others can read is refused; one without keys is read")
    func permissions() throws {
        let root = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let path = root + "/config.toml"
        try "[contexts.a]\nurl = \"https://x\"\n".write(toFile: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: path)
        #expect(try ConfigFile.load(path: path).context(named: "a")?.url == "https://x")
        try "[contexts.a]\nurl = \"https://x\"\napi-key = \"nk_secret\"\n".write(toFile: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o640], ofItemAtPath: path)
        let error = try #require(throws: ClientError.self) { try ConfigFile.load(path: path) }
        #expect(error.message.contains("chmod 600") && !error.message.contains("nk_secret"), "\(error.message)")
    }

    @Test("the default path: --config, NKUDO_CONFIG, XDG_CONFIG_HOME, HOME")
    func defaultPath() {
        #expect(ConfigFile.defaultPath(flag: "/a.toml", environment: ["NKUDO_CONFIG": "/b.toml"]) == "/a.toml")
        #expect(ConfigFile.defaultPath(flag: nil, environment: ["NKUDO_CONFIG": "/b.toml", "XDG_CONFIG_HOME": "/x"]) == "/b.toml")
        #expect(ConfigFile.defaultPath(flag: nil, environment: ["XDG_CONFIG_HOME": "/x", "HOME": "/h"]) == "/x/nkudo/config.toml")
        #expect(ConfigFile.defaultPath(flag: nil, environment: ["XDG_CONFIG_HOME": "relative", "HOME": "/h"]) == "/h/.config/nkudo/config.toml")
    }
}
