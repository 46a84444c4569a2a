import Foundation
import NKudoClient
import NKudoContract
import NKudoWire

/// The table rows and detail lines of the contract's resources.
enum Rendering {
    /// An enum value's proto name (`ONLINE`), or its number when this build does not know it.
    static func name<E: ProtoEnum>(_ value: E) -> String {
        value.protoName ?? String(value.rawValue)
    }

    /// `NKUDO_ENROLL_TOKEN=… nkudo-edge enroll --control-plane URL --ca-fingerprint sha256:HEX`.
    static func enrollLine(token: String, url: String, fingerprint: String) -> String {
        "NKUDO_ENROLL_TOKEN=\(token) nkudo-edge enroll --control-plane \(url) --ca-fingerprint sha256:\(fingerprint)"
    }

    static func tenant(_ tenant: Tenant) -> String {
        var details = Details()
        details.append("id", tenant.id)
        details.append("slug", tenant.slug)
        details.append("name", tenant.name)
        details.append("region", tenant.primaryRegion)
        details.append("retention", "\(tenant.dataRetentionDays) days")
        details.append("created", HumanFormat.time(tenant.createdAt))
        return details.render()
    }

    static func keyStatus(_ key: APIKey) -> String {
        if key.revokedAt != nil { return "REVOKED" }
        if let expires = key.expiresAt, expires.date <= .now { return "EXPIRED" }
        return "ACTIVE"
    }

    static func siteDetails(_ site: Site) -> Details {
        var details = Details()
        details.append("id", site.id)
        details.append("name", site.name)
        details.append("state", name(site.connectivityState))
        details.append("country", site.locationCountryCode ?? "")
        details.append("external key", site.externalKey ?? "")
        details.append("last heartbeat", site.lastHeartbeatAt.map { "\(HumanFormat.time($0)) (\(HumanFormat.relative($0)))" } ?? "never")
        details.append("created", HumanFormat.time(site.createdAt))
        return details
    }

    static func hosts(_ hosts: [NKudoContract.Host], wide: Bool) -> String {
        var table = Table([.init("id"), .init("hostname"), .init("state"), .init("cpus"), .init("memory"), .init("storage"),
                           .init("kvm"), .init("hypervisor"), .init("last heartbeat"), .init("os hostname", wideOnly: true),
                           .init("hypervisors", wideOnly: true), .init("netbird", wideOnly: true)])
        for host in hosts {
            table.append([host.id, host.hostname, name(host.agentState), String(host.cpuCoresTotal), HumanFormat.bytes(host.memoryBytesTotal),
                          HumanFormat.bytes(host.storageBytesTotal), host.kvmAvailable ? "yes" : "no", host.hypervisor,
                          HumanFormat.relative(host.agentLastHeartbeatAt), host.osHostname, host.hypervisors.joined(separator: ","),
                          host.netbird.map { $0.connected ? "connected" : "disconnected" } ?? ""])
        }
        return table.render(wide: wide)
    }

    static func vms(_ vms: [MicroVM], wide: Bool) -> String {
        var table = Table([.init("id"), .init("name"), .init("state"), .init("vcpus"), .init("memory"), .init("host"), .init("updated"),
                           .init("image", wideOnly: true), .init("kernel", wideOnly: true), .init("hypervisor", wideOnly: true),
                           .init("reason", wideOnly: true)])
        for vm in vms {
            table.append([vm.id, vm.name, name(vm.state), String(vm.vcpuCount), HumanFormat.mebibytes(vm.memoryMib), vm.hostId,
                          HumanFormat.relative(vm.updatedAt), vm.image, vm.kernel, vm.hypervisor, vm.stateReason])
        }
        return table.render(wide: wide)
    }

    static func vmDetails(_ vm: MicroVM) -> Details {
        var details = Details()
        details.append("id", vm.id)
        details.append("name", vm.name)
        details.append("state", name(vm.state))
        details.append("reason", vm.stateReason)
        details.append("site", vm.siteId)
        details.append("host", vm.hostId)
        details.append("vcpus", String(vm.vcpuCount))
        details.append("memory", HumanFormat.mebibytes(vm.memoryMib))
        details.append("hypervisor", vm.hypervisor)
        details.append("image", vm.image)
        details.append("kernel", vm.kernel)
        details.append("initrd", vm.initrd)
        details.append("last transition", vm.lastTransitionAt.map { "\(HumanFormat.time($0)) (\(HumanFormat.relative($0)))" } ?? "")
        details.append("updated", HumanFormat.time(vm.updatedAt))
        return details
    }

    static func executions(_ executions: [Execution], wide: Bool) -> String {
        var table = Table([.init("id"), .init("operation"), .init("vm"), .init("state"), .init("error"), .init("updated"),
                           .init("plan", wideOnly: true), .init("host", wideOnly: true), .init("started", wideOnly: true),
                           .init("took", wideOnly: true)])
        for execution in executions {
            let error = [execution.errorCode, execution.errorMessage].compactMap { $0 }.joined(separator: ": ")
            var took = ""
            if let started = execution.startedAt, let completed = execution.completedAt {
                took = HumanFormat.duration(completed.date.timeIntervalSince(started.date))
            }
            table.append([execution.id, name(execution.operationType), execution.vmId ?? "", name(execution.state), error,
                          HumanFormat.relative(execution.updatedAt), execution.planId, execution.hostId ?? "",
                          HumanFormat.relative(execution.startedAt), took])
        }
        return table.render(wide: wide)
    }

    static func logs(_ logs: some Sequence<ExecutionLog>, wide: Bool) -> String {
        var text = ""
        for line in logs { text += logLine(line, wide: wide) + "\n" }
        return text
    }

    /// `TIME SEVERITY MESSAGE` (wide: with the sequence number and execution).
    static func logLine(_ line: ExecutionLog, wide: Bool) -> String {
        let severity = name(line.severity).padding(toLength: 5, withPad: " ", startingAt: 0)
        let prefix = wide ? "#\(line.sequence) \(line.executionId.isEmpty ? "plan " + line.planId : line.executionId) " : ""
        return "\(HumanFormat.time(line.emittedAt)) \(severity) \(prefix)\(TerminalText.escaped(line.message))"
    }
}
