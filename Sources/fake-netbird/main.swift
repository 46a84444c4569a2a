// fake-netbird: a stand-in for the NetBird CLI in tests. It prints the output shapes of
// current NetBird clients (`status --json`, plain `status`), accepts `up` with a setup
// key from `--setup-key-file` or `NB_SETUP_KEY`, and prints a version.
//
// Environment:
//   FAKE_NETBIRD_STATE          connected (default) | disconnected | not-configured | status-fails
//   FAKE_NETBIRD_RECORD         file that receives one JSON line per `up` call; a successful
//                               `up` also writes `<record>.state`, after which `status`
//                               reports connected
//   FAKE_NETBIRD_UP_FAILS       `1`: every `up` fails
//   FAKE_NETBIRD_UP_FAILS_TIMES n: the first n `up` calls fail
import Foundation

let environment = ProcessInfo.processInfo.environment
let arguments = Array(CommandLine.arguments.dropFirst())
let recordPath = environment["FAKE_NETBIRD_RECORD"].flatMap { $0.isEmpty ? nil : $0 }
let statePath = recordPath.map { $0 + ".state" }

func write(_ text: String, to handle: FileHandle = .standardOutput) {
    handle.write(Data(text.utf8))
}

func fail(_ text: String, code: Int32 = 1) -> Never {
    write(text + "\n", to: .standardError)
    exit(code)
}

func scenario() -> String {
    if let statePath, let saved = try? String(contentsOfFile: statePath, encoding: .utf8),
        saved.trimmingCharacters(in: .whitespacesAndNewlines) == "connected"
    {
        return "connected"
    }
    return environment["FAKE_NETBIRD_STATE"] ?? "connected"
}

func statusJSON(connected: Bool) -> String {
    let peersConnected = connected ? 2 : 0
    return """
        {
          "peers": {
            "total": 3,
            "connected": \(peersConnected),
            "details": [
              {
                "fqdn": "edge-b.netbird.cloud",
                "netbirdIp": "100.92.7.12",
                "publicKey": "Xk1bQ8K0nTqv1m3YbH0f6rJ3sS2pLw9cT5uE7aV4dDg=",
                "status": "\(connected ? "Connected" : "Idle")",
                "statusSince": "2025-06-02T09:14:03.512Z",
                "connectionType": "P2P",
                "iceCandidateType": {"local": "host", "remote": "srflx"},
                "iceCandidateEndpoint": {"local": "10.0.0.4:51820", "remote": "203.0.113.9:51820"},
                "relayAddress": "",
                "lastWireguardHandshake": "2025-06-02T09:20:41Z",
                "transferReceived": 1482256,
                "transferSent": 903712,
                "latency": 14250000,
                "quantumResistance": false,
                "networks": []
              }
            ]
          },
          "cliVersion": "0.36.5",
          "daemonVersion": "0.36.5",
          "management": {"url": "https://api.netbird.io:443", "connected": \(connected), "error": "\(connected ? "" : "context deadline exceeded")"},
          "signal": {"url": "https://signal.netbird.io:443", "connected": \(connected), "error": ""},
          "relays": {"total": 2, "available": \(connected ? 2 : 0), "details": []},
          "netbirdIp": "100.92.1.5/16",
          "publicKey": "pQ3v7rZ4mN2xK8sL1dF6gH9jB0cV5nM3aS7dQ2wE4rT=",
          "usesKernelInterface": true,
          "fqdn": "edge-a.netbird.cloud",
          "quantumResistance": false,
          "quantumResistancePermissive": false,
          "routes": [],
          "networks": [],
          "dnsServers": [],
          "events": [],
          "lazyConnectionEnabled": false,
          "profileName": "default"
        }

        """
}

func statusPlain(connected: Bool) -> String {
    let state = connected ? "Connected" : "Disconnected"
    return """
        OS: linux/amd64
        Daemon version: 0.36.5
        CLI version: 0.36.5
        Profile: default
        Management: \(state)
        Signal: \(state)
        Relays: \(connected ? 2 : 0)/2 Available
        Nameservers: 0/0 Available
        FQDN: edge-a.netbird.cloud
        NetBird IP: 100.92.1.5/16
        Interface type: Kernel
        Quantum resistance: false
        Lazy connection: false
        Networks: -
        Forwarding rules: 0
        Peers count: \(connected ? 2 : 0)/3 Connected

        """
}

let needsLogin = """
    Daemon status: NeedsLogin

    Run UP command to log in with SSO (interactive login):

     netbird up

    If you are running a self-hosted version and no SSO provider has been configured in your Management Server,
    you can use a setup-key:

     netbird up --management-url <YOUR_MANAGEMENT_URL> --setup-key <YOUR_SETUP_KEY>

    More info: https://docs.netbird.io/how-to/register-machines-using-setup-keys

    """

func status(json: Bool) -> Never {
    switch scenario() {
    case "connected":
        write(json ? statusJSON(connected: true) : statusPlain(connected: true))
    case "disconnected":
        write(json ? statusJSON(connected: false) : statusPlain(connected: false))
    case "not-configured":
        write(needsLogin)
    case "status-fails":
        fail("Error: status failed: failed to connect to daemon error: context deadline exceeded")
    default:
        fail("fake-netbird: unknown FAKE_NETBIRD_STATE")
    }
    exit(0)
}

func jsonString(_ text: String) -> String {
    let data = try! JSONSerialization.data(withJSONObject: [text], options: [.withoutEscapingSlashes])
    return String(decoding: data.dropFirst().dropLast(), as: UTF8.self)
}

func up() -> Never {
    var keyFile: String?
    var index = 1
    while index < arguments.count {
        if arguments[index] == "--setup-key-file", index + 1 < arguments.count {
            keyFile = arguments[index + 1]
            index += 1
        }
        index += 1
    }
    var key = ""
    var source = "none"
    var mode = ""
    if let keyFile {
        guard let content = try? String(contentsOfFile: keyFile, encoding: .utf8) else {
            fail("Error: read setup key file: no such file or directory")
        }
        key = content.trimmingCharacters(in: .whitespacesAndNewlines)
        source = "file"
        if let permissions = (try? FileManager.default.attributesOfItem(atPath: keyFile))?[.posixPermissions] as? Int {
            mode = String(permissions, radix: 8)
        }
    } else if let value = environment["NB_SETUP_KEY"], !value.isEmpty {
        key = value
        source = "env"
    }
    var previousCalls = 0
    if let recordPath {
        let previous = (try? String(contentsOfFile: recordPath, encoding: .utf8)) ?? ""
        previousCalls = previous.split(separator: "\n").count
        let argv = "[" + CommandLine.arguments.map(jsonString).joined(separator: ",") + "]"
        let line = "{\"argv\":\(argv),\"key_source\":\"\(source)\",\"setup_key\":\(jsonString(key)),\"key_file_mode\":\"\(mode)\"}\n"
        try? (previous + line).write(toFile: recordPath, atomically: true, encoding: .utf8)
    }
    let failTimes = Int(environment["FAKE_NETBIRD_UP_FAILS_TIMES"] ?? "") ?? 0
    if environment["FAKE_NETBIRD_UP_FAILS"] == "1" || previousCalls < failTimes {
        fail("Error: login failed: rpc error: code = PermissionDenied desc = invalid setup key")
    }
    if key.isEmpty {
        fail("Error: no setup key provided and interactive login is not possible")
    }
    if let statePath {
        try? "connected\n".write(toFile: statePath, atomically: true, encoding: .utf8)
    }
    write("Connected\n")
    exit(0)
}

switch arguments.first {
case "status":
    status(json: arguments.contains("--json") || arguments.contains("-j"))
case "up":
    up()
case "version":
    write("0.36.5\n")
case .some(let command):
    fail("Error: unknown command \"\(command)\" for \"netbird\"")
case .none:
    fail("Usage: netbird [command]")
}
