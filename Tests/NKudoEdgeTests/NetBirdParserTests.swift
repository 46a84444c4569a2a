import Foundation
import NKudoEdge
import Testing

/// A `netbird status --json` output of a current client (0.36.x shape).
let currentStatusJSON = """
    {
      "peers": {
        "total": 3,
        "connected": 2,
        "details": [
          {
            "fqdn": "edge-b.netbird.cloud",
            "netbirdIp": "100.92.7.12",
            "publicKey": "Xk1bQ8K0nTqv1m3YbH0f6rJ3sS2pLw9cT5uE7aV4dDg=",
            "status": "Connected",
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
      "management": {"url": "https://api.netbird.io:443", "connected": true, "error": ""},
      "signal": {"url": "https://signal.netbird.io:443", "connected": true, "error": ""},
      "relays": {"total": 2, "available": 2, "details": [{"uri": "rels://relay.netbird.io:443", "available": true, "error": ""}]},
      "netbirdIp": "100.92.1.5/16",
      "publicKey": "pQ3v7rZ4mN2xK8sL1dF6gH9jB0cV5nM3aS7dQ2wE4rT=",
      "usesKernelInterface": true,
      "fqdn": "edge-a.netbird.cloud",
      "quantumResistance": false,
      "quantumResistancePermissive": false,
      "routes": ["10.10.0.0/16"],
      "networks": ["10.10.0.0/16"],
      "dnsServers": [{"servers": ["100.92.255.254:53"], "domains": ["netbird.cloud"], "enabled": true, "error": ""}],
      "events": [],
      "lazyConnectionEnabled": false,
      "profileName": "default"
    }
    """

@Suite("NetBirdStatusParser")
struct NetBirdParserTests {
    @Test("current `status --json` shape")
    func currentJSON() throws {
        let status = try #require(NetBirdStatusParser.parseJSON(currentStatusJSON))
        #expect(status.connected)
        #expect(status.managementConnected)
        #expect(status.signalConnected)
        #expect(status.peerID == "pQ3v7rZ4mN2xK8sL1dF6gH9jB0cV5nM3aS7dQ2wE4rT=")
        #expect(status.ipv4 == "100.92.1.5")
        #expect(status.managementURL == "https://api.netbird.io:443")
        #expect(status.fqdn == "edge-a.netbird.cloud")
        #expect(status.peersConnected == 2)
        #expect(status.peersTotal == 3)
        #expect(status.daemonVersion == "0.36.5")
        #expect(status.networkID == "")
    }

    @Test("current shape with management or signal down is not connected")
    func currentJSONDisconnected() throws {
        let managementDown = currentStatusJSON.replacingOccurrences(
            of: #""url": "https://api.netbird.io:443", "connected": true"#,
            with: #""url": "https://api.netbird.io:443", "connected": false"#
        )
        let signalDown = currentStatusJSON.replacingOccurrences(
            of: #""url": "https://signal.netbird.io:443", "connected": true"#,
            with: #""url": "https://signal.netbird.io:443", "connected": false"#
        )
        let first = try #require(NetBirdStatusParser.parseJSON(managementDown))
        #expect(!first.connected)
        #expect(!first.managementConnected)
        #expect(first.signalConnected)
        let second = try #require(NetBirdStatusParser.parseJSON(signalDown))
        #expect(!second.connected)
        #expect(second.managementConnected)
    }

    @Test("older shapes with status / peer_state / ip keys")
    func olderShapes() throws {
        let old = try #require(
            NetBirdStatusParser.parseJSON(
                #"{"status":"Connected","peer_id":"peer-1","ip":"100.64.0.2/10","management_url":"https://m.example","network_id":"net-1"}"#
            )
        )
        #expect(old.connected)
        #expect(old.peerID == "peer-1")
        #expect(old.ipv4 == "100.64.0.2")
        #expect(old.managementURL == "https://m.example")
        #expect(old.networkID == "net-1")

        let overridden = try #require(NetBirdStatusParser.parseJSON(#"{"peerState":"connected","isConnected":false}"#))
        #expect(!overridden.connected)
        let camel = try #require(NetBirdStatusParser.parseJSON(#"{"peer_state":"  ","connected":true,"peerId":"p","netbird_ip":"100.1.2.3","managementURL":"u","networkID":"n"}"#))
        #expect(camel.connected)
        #expect(camel.peerID == "p")
        #expect(camel.ipv4 == "100.1.2.3")
        #expect(camel.managementURL == "u")
        #expect(camel.networkID == "n")
        let disconnected = try #require(NetBirdStatusParser.parseJSON(#"{"status":"Disconnected","ip":42}"#))
        #expect(!disconnected.connected)
        #expect(disconnected.ipv4 == "")
    }

    @Test("non-object output is not JSON status", arguments: ["[]", "\"connected\"", "Daemon status: NeedsLogin", ""])
    func notJSON(text: String) {
        #expect(NetBirdStatusParser.parseJSON(text) == nil)
    }

    @Test("plain status of a connected peer")
    func plainConnected() {
        let status = NetBirdStatusParser.parsePlain(
            """
            OS: linux/amd64
            Daemon version: 0.36.5
            CLI version: 0.36.5
            Management: Connected
            Signal: Connected
            Relays: 2/2 Available
            FQDN: edge-a.netbird.cloud
            NetBird IP: 100.92.1.5/16
            Interface type: Kernel
            Peers count: 2/3 Connected
            """
        )
        #expect(status.connected)
        #expect(status.managementConnected && status.signalConnected)
        #expect(status.ipv4 == "100.92.1.5")
        #expect(status.fqdn == "edge-a.netbird.cloud")
        #expect(status.peersConnected == 2)
        #expect(status.peersTotal == 3)
        #expect(status.daemonVersion == "0.36.5")
    }

    @Test(
        "plain status with Disconnected is not connected",
        arguments: [
            "Management: Disconnected\nSignal: Disconnected\nNetBird IP: 100.92.1.5/16\nPeers count: 0/3 Connected",
            "Management: Connected\nSignal: Disconnected, reason: context deadline exceeded",
            "Management: Disconnected, reason: rpc error\nSignal: Connected",
            "Daemon status: Disconnected",
        ]
    )
    func plainDisconnected(text: String) {
        #expect(!NetBirdStatusParser.parsePlain(text).connected)
    }

    @Test("plain NeedsLogin output is an unconfigured peer")
    func plainNeedsLogin() {
        let status = NetBirdStatusParser.parsePlain("Daemon status: NeedsLogin\n\nRun UP command to log in with SSO (interactive login):\n\n netbird up\n")
        #expect(!status.connected)
        #expect(status.isUnconfigured)
    }

    @Test("plain detailed management line carries the URL")
    func plainManagementURL() {
        let status = NetBirdStatusParser.parsePlain("Management: Connected to https://api.netbird.io:443\nSignal: Connected to https://signal.netbird.io:443\nNetBird IP: N/A")
        #expect(status.connected)
        #expect(status.managementURL == "https://api.netbird.io:443")
        #expect(status.ipv4 == "")
    }
}

@Suite("NetBirdSetupKey")
struct NetBirdSetupKeyTests {
    @Test("environment first, then file; blank values are no key")
    func load() throws {
        let directory = try TestFiles.makeTemporaryDirectory("setupkey")
        let file = directory + "/key"
        try TestFiles.write("  FILE-KEY-1\n", to: file, mode: 0o600)
        let fromEnvironment = try NetBirdSetupKey.load(environment: ["NKUDO_NETBIRD_SETUP_KEY": "ENV-KEY"], file: file)
        #expect(fromEnvironment == NetBirdSetupKey("ENV-KEY"))
        #expect(try NetBirdSetupKey.load(environment: ["NKUDO_NETBIRD_SETUP_KEY": " "], file: file) == NetBirdSetupKey("FILE-KEY-1"))
        #expect(try NetBirdSetupKey.load(environment: [:], file: nil) == nil)
        try TestFiles.write("\n", to: file)
        #expect(try NetBirdSetupKey.load(environment: [:], file: file) == nil)
        #expect(throws: NetBirdError.self) { try NetBirdSetupKey.load(environment: [:], file: directory + "/missing") }
    }

    @Test("the key never appears in descriptions")
    func redacted() throws {
        let key = try #require(NetBirdSetupKey("A1B2C3-SECRET"))
        #expect(!"\(key)".contains("SECRET"))
        #expect(!String(reflecting: key).contains("SECRET"))
    }
}
