import Foundation

/// The command line Cloud Hypervisor receives from the provider: `--flag value…` pairs
/// where a flag takes every following word up to the next `--flag`.
struct CommandLineOptions {
    var apiSocket: String
    var kernel: String?
    var cmdline: String?
    var firmware: String?
    var disks: [[String: String]] = []
    var cpus: [String: String] = [:]
    var memory: [String: String] = [:]
    var nets: [[String: String]] = []
    var serial: String?
    var console: String?

    struct UsageError: Error, CustomStringConvertible {
        var description: String
    }

    init(_ arguments: [String]) throws {
        var values: [String: [String]] = [:]
        var current: String?
        for word in arguments {
            if word.hasPrefix("--") {
                current = String(word.dropFirst(2))
                values[current!, default: []] += []
            } else if let flag = current {
                values[flag, default: []].append(word)
            } else {
                throw UsageError(description: "unexpected argument \(word)")
            }
        }
        guard let socket = values["api-socket"]?.first else {
            throw UsageError(description: "--api-socket is required")
        }
        apiSocket = Self.keyValues(socket)["path"] ?? socket
        kernel = values["kernel"]?.first
        cmdline = values["cmdline"]?.first
        firmware = values["firmware"]?.first
        disks = (values["disk"] ?? []).map(Self.keyValues)
        cpus = values["cpus"]?.first.map(Self.keyValues) ?? [:]
        memory = values["memory"]?.first.map(Self.keyValues) ?? [:]
        nets = (values["net"] ?? []).map(Self.keyValues)
        serial = values["serial"]?.first
        console = values["console"]?.first
        for disk in disks where disk["path"] == nil {
            throw UsageError(description: "--disk needs path=")
        }
    }

    /// Whether the command line carries a boot payload: then Cloud Hypervisor creates and
    /// boots the VM at start.
    var hasPayload: Bool { kernel != nil || firmware != nil }

    /// `a=1,b=2` → `["a": "1", "b": "2"]`; a bare word `x` → `["x": ""]`.
    static func keyValues(_ text: String) -> [String: String] {
        var result: [String: String] = [:]
        for part in text.split(separator: ",") {
            let pair = part.split(separator: "=", maxSplits: 1)
            result[String(pair[0])] = pair.count > 1 ? String(pair[1]) : ""
        }
        return result
    }

    /// Memory size in bytes from `size=512M` / `1G` / bytes.
    var memoryBytes: Int {
        guard let size = memory["size"], let last = size.last else {
            return 512 << 20
        }
        let number = Int(size.dropLast()) ?? 0
        switch last {
        case "K": return number << 10
        case "M": return number << 20
        case "G": return number << 30
        default: return Int(size) ?? 0
        }
    }

    /// The `config` object of `vm.info`, shaped like Cloud Hypervisor's `VmConfig`.
    var vmConfig: [String: Any] {
        let vcpus = Int(cpus["boot"] ?? "1") ?? 1
        var payload: [String: Any] = [:]
        payload["kernel"] = kernel
        payload["cmdline"] = cmdline
        payload["firmware"] = firmware
        return [
            "cpus": ["boot_vcpus": vcpus, "max_vcpus": vcpus],
            "memory": ["size": memoryBytes, "shared": false, "hugepages": false],
            "payload": payload,
            "disks": disks.enumerated().map { index, disk -> [String: Any] in
                ["path": disk["path"] ?? "", "readonly": disk["readonly"] == "on", "id": "_disk\(index)"]
            },
            "net": nets.enumerated().map { index, net -> [String: Any] in
                ["tap": net["tap"] ?? "", "mac": net["mac"] ?? "", "id": "_net\(index)"]
            },
            "serial": Self.consoleConfig(serial, default: "Null"),
            "console": Self.consoleConfig(console, default: "Tty"),
        ]
    }

    /// A `SerialConfig` / `ConsoleConfig` from `--serial` / `--console`: `off`, `null`,
    /// `pty`, `tty`, `file=PATH` or `socket=PATH` (`mode` one of the document's
    /// `ConsoleMode`s, `file` or `socket` only when given).
    static func consoleConfig(_ option: String?, default mode: String) -> [String: Any] {
        guard let option else {
            return ["mode": mode]
        }
        let values = keyValues(option)
        if let file = values["file"] {
            return ["mode": "File", "file": file]
        }
        if let socket = values["socket"] {
            return ["mode": "Socket", "socket": socket]
        }
        return ["mode": option.capitalized]
    }
}
