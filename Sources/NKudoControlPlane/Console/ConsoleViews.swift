import Foundation
import NKudoContract
import NKudoWire

/// The contract's messages as the values the console's templates render: plain strings,
/// numbers and lists, formatted for people (times in UTC, sizes in binary units).
/// Escaping is the templates' (`{{ }}`), never done here.
enum ConsoleViews {
    static let none = "—"

    static func time(_ timestamp: ProtoTimestamp?) -> String {
        guard let timestamp else { return none }
        return timestamp.date.formatted(Date.ISO8601FormatStyle(dateSeparator: .dash, dateTimeSeparator: .space, timeZone: .gmt))
    }

    static func bytes(_ count: Int64) -> String {
        guard count > 0 else { return none }
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(count)
        var unit = 0
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(count) B" : String(format: "%.1f %@", value, units[unit])
    }

    static func text(_ value: String?) -> String {
        guard let value, !value.isEmpty else { return none }
        return value
    }

    static func site(_ site: Site) -> [String: Any] {
        ["id": site.id, "name": site.name, "state": site.connectivityState.description, "lastHeartbeat": time(site.lastHeartbeatAt),
         "country": text(site.locationCountryCode), "created": time(site.createdAt)]
    }

    static func host(_ host: NKudoContract.Host) -> [String: Any] {
        var netbirdState = "NotConfigured"
        var netbirdDetail = ""
        if let netbird = host.netbird {
            netbirdState = netbird.state == .unspecified ? (netbird.connected ? "Connected" : "NotConfigured") : netbird.state.description
            var details: [String] = []
            if let ip = netbird.ipv4 { details.append(ip) }
            if netbird.peersTotal > 0 { details.append("\(netbird.peersConnected)/\(netbird.peersTotal) peers") }
            if !netbird.reason.isEmpty { details.append(netbird.reason) }
            netbirdDetail = details.joined(separator: " · ")
        }
        return ["id": host.id, "hostname": host.hostname, "osHostname": host.osHostname.isEmpty || host.osHostname == host.hostname ? false as Any : host.osHostname,
                "agentState": host.agentState.description, "cpus": host.cpuCoresTotal, "memory": bytes(host.memoryBytesTotal),
                "storage": bytes(host.storageBytesTotal), "kvm": host.kvmAvailable ? "yes" : "no",
                "hypervisor": text(host.hypervisor), "netbirdState": netbirdState, "netbirdDetail": netbirdDetail,
                "lastHeartbeat": time(host.agentLastHeartbeatAt)]
    }

    static func vm(_ vm: MicroVM) -> [String: Any] {
        ["id": vm.id, "siteID": vm.siteId, "name": vm.name, "state": vm.state.description, "reason": text(vm.stateReason),
         "vcpus": vm.vcpuCount, "memory": vm.memoryMib, "hypervisor": text(vm.hypervisor), "image": text(vm.image),
         "kernel": text(vm.kernel), "hostID": text(vm.hostId), "updated": time(vm.updatedAt)]
    }

    static func log(_ log: ExecutionLog) -> [String: Any] {
        ["time": time(log.emittedAt), "severity": log.severity.description, "message": log.message]
    }

    static func tenant(_ tenant: Tenant) -> [String: Any] {
        ["id": tenant.id, "name": tenant.name, "slug": tenant.slug, "region": tenant.primaryRegion, "retention": tenant.dataRetentionDays,
         "created": time(tenant.createdAt)]
    }
}
