import Foundation

/// What one `netbird status` read tells about the local peer. Empty strings mean
/// unknown.
public struct NetBirdPeerStatus: Sendable, Hashable {
    /// The peer is connected (management and, when reported, signal connected).
    public var connected: Bool = false
    /// Peer id (`peer_id`, or the WireGuard `publicKey` of current clients).
    public var peerID: String = ""
    /// Mesh IPv4 without prefix length.
    public var ipv4: String = ""
    /// Management server URL.
    public var managementURL: String = ""
    /// Network id (older outputs only).
    public var networkID: String = ""
    /// Fully qualified mesh DNS name.
    public var fqdn: String = ""
    /// Connected to the management server.
    public var managementConnected: Bool = false
    /// Connected to the signal server.
    public var signalConnected: Bool = false
    /// Connected peers.
    public var peersConnected: Int = 0
    /// Known peers.
    public var peersTotal: Int = 0
    /// Version of the NetBird daemon, when reported.
    public var daemonVersion: String = ""

    /// An unknown, disconnected peer.
    public init() {}

    /// Whether nothing identifies a configured peer (no peer id, IP or management URL).
    public var isUnconfigured: Bool {
        peerID.isEmpty && ipv4.isEmpty && managementURL.isEmpty
    }
}

/// Parses `netbird status --json` and plain `netbird status` output (reference §8.3,
/// with defect §11.2 #13 fixed).
public enum NetBirdStatusParser {
    /// Interprets JSON output; `nil` when `text` is not a JSON object.
    ///
    /// Current clients: `management.{url,connected}`, `signal.{url,connected}`,
    /// `netbirdIp` (`100.92.1.5/16`), `publicKey`, `fqdn`, `peers.{total,connected}`,
    /// `daemonVersion`; connected means management connected and signal connected (when
    /// reported). Older shapes: `status` / `peer_state` / `peerState` equal to
    /// `connected`, overridden by a boolean `connected` / `is_connected` /
    /// `isConnected`; `peer_id`, `ip`/`ipv4`/`netbird_ip`, `management_url`,
    /// `network_id` and their camel-case spellings.
    public static func parseJSON(_ text: String) -> NetBirdPeerStatus? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            return nil
        }
        var status = NetBirdPeerStatus()
        let management = object["management"] as? [String: Any]
        let signal = object["signal"] as? [String: Any]
        status.managementConnected = management?["connected"] as? Bool ?? false
        status.signalConnected = signal?["connected"] as? Bool ?? false

        var connected: Bool?
        if let state = firstString(object, ["status", "peer_state", "peerState"]) {
            connected = state.caseInsensitiveCompare("connected") == .orderedSame
        }
        for key in ["connected", "is_connected", "isConnected"] {
            if let flag = object[key] as? Bool {
                connected = flag
                break
            }
        }
        if connected == nil, let managementConnected = management?["connected"] as? Bool {
            let signalConnected = signal?["connected"] as? Bool ?? true
            connected = managementConnected && signalConnected
        }
        status.connected = connected ?? false

        status.peerID = firstString(object, ["peer_id", "peerID", "peerId", "publicKey"]) ?? ""
        status.ipv4 = stripPrefixLength(firstString(object, ["ip", "ipv4", "netbird_ip", "netbirdIp"]) ?? "")
        status.managementURL =
            firstString(object, ["management_url", "managementURL"])
            ?? management.flatMap { firstString($0, ["url"]) } ?? ""
        status.networkID = firstString(object, ["network_id", "networkID", "networkId"]) ?? ""
        status.fqdn = firstString(object, ["fqdn"]) ?? ""
        status.daemonVersion = firstString(object, ["daemonVersion", "daemon_version"]) ?? ""
        if let peers = object["peers"] as? [String: Any] {
            status.peersTotal = integer(peers["total"]) ?? 0
            status.peersConnected = integer(peers["connected"]) ?? 0
        }
        return status
    }

    /// Interprets plain output (`Management: Connected`, `Signal: Connected`,
    /// `NetBird IP: 100.92.1.5/16`, `FQDN: …`, `Peers count: 2/3 Connected`,
    /// `Daemon status: NeedsLogin`). A value counts as connected only when its first
    /// word is exactly `Connected`, so `Disconnected` is not connected.
    public static func parsePlain(_ text: String) -> NetBirdPeerStatus {
        var status = NetBirdPeerStatus()
        var management: Bool?
        var signal: Bool?
        var daemon: Bool?
        for rawLine in text.split(whereSeparator: \.isNewline) {
            guard let colon = rawLine.firstIndex(of: ":") else {
                continue
            }
            let key = rawLine[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
            let value = rawLine[rawLine.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            switch key {
            case "management":
                management = isConnectedWord(value)
                if let range = value.range(of: " to ") {
                    status.managementURL = value[range.upperBound...].trimmingCharacters(in: .whitespaces)
                }
            case "signal":
                signal = isConnectedWord(value)
            case "daemon status", "status":
                daemon = isConnectedWord(value)
            case "netbird ip":
                status.ipv4 = value == "N/A" ? "" : stripPrefixLength(value)
            case "fqdn":
                status.fqdn = value == "N/A" ? "" : value
            case "daemon version":
                status.daemonVersion = value
            case "peers count":
                let counts = value.split(separator: " ").first?.split(separator: "/") ?? []
                if counts.count == 2 {
                    status.peersConnected = Int(counts[0]) ?? 0
                    status.peersTotal = Int(counts[1]) ?? 0
                }
            default:
                continue
            }
        }
        status.managementConnected = management ?? false
        status.signalConnected = signal ?? false
        if let management {
            status.connected = management && (signal ?? true)
        } else {
            status.connected = daemon ?? false
        }
        return status
    }

    private static func isConnectedWord(_ value: String) -> Bool {
        let word = value.split(whereSeparator: { $0 == " " || $0 == "," }).first ?? ""
        return word.caseInsensitiveCompare("connected") == .orderedSame
    }

    private static func firstString(_ object: [String: Any], _ keys: [String]) -> String? {
        for key in keys {
            if let value = (object[key] as? String)?.trimmingCharacters(in: .whitespacesAndNewlines), !value.isEmpty {
                return value
            }
        }
        return nil
    }

    private static func integer(_ value: Any?) -> Int? {
        if let number = value as? NSNumber {
            return number.intValue
        }
        return value as? Int
    }

    private static func stripPrefixLength(_ address: String) -> String {
        let head = address.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        return head.trimmingCharacters(in: .whitespaces)
    }
}
