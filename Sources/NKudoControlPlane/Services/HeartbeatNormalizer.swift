import Foundation
import NKudoContract
import NKudoStore
import NKudoSQL

/// Turns a heartbeat as agents send it (flat legacy fields and/or nested `host_facts`,
/// free-form state strings) into the store's normalised form.
enum HeartbeatNormalizer {
    static func normalize(_ request: HeartbeatRequest, agentID: String, now: Date) -> HeartbeatIngest {
        let facts = request.hostFacts
        func text(_ flat: String, _ nested: String?) -> String? {
            let value = flat.isEmpty ? (nested ?? "") : flat
            return value.isBlank ? nil : value
        }
        let kvmAvailable = request.kvmAvailable || (facts?.kvmUsable ?? false)
        let storage = request.storageBytesTotal != 0 ? request.storageBytesTotal : (facts?.storageBytesTotal ?? 0)
        let vms = request.microvms.compactMap { report -> HeartbeatIngest.ReportedVM? in
            guard let id = Identifiers.canonicalUUID(report.id) else { return nil }
            let rawState = !report.state.isBlank ? report.state : report.status
            return HeartbeatIngest.ReportedVM(
                id: id, name: report.name.isBlank ? id : report.name, state: vmState(rawState),
                vcpuCount: max(report.vcpuCount, 1), memoryMiB: report.memoryMib > 0 ? report.memoryMib : 128,
                updatedAt: report.updatedAt?.date ?? now, stateReason: String(report.stateReason.prefix(2000)),
                hypervisor: String(report.hypervisor.prefix(32)), consoleTail: report.consoleTail.map(consoleTail))
        }
        let updates = request.executionUpdates.compactMap { update -> HeartbeatIngest.ExecutionUpdate? in
            guard let id = Identifiers.canonicalUUID(update.executionId), let state = executionState(update.state) else { return nil }
            return HeartbeatIngest.ExecutionUpdate(executionID: id, state: state,
                                                   errorCode: update.errorCode.isBlank ? nil : update.errorCode,
                                                   errorMessage: update.errorMessage.isBlank ? nil : update.errorMessage,
                                                   updatedAt: update.updatedAt?.date ?? now, leaseToken: max(update.leaseToken, 0))
        }
        let held = request.heldLeases.compactMap { claim -> HeartbeatIngest.HeldLeaseClaim? in
            guard let planID = Identifiers.canonicalUUID(claim.planId) else { return nil }
            return HeartbeatIngest.HeldLeaseClaim(planID: planID, leaseToken: max(claim.leaseToken, 0))
        }
        return HeartbeatIngest(
            agentID: agentID, heartbeatSeq: request.heartbeatSeq,
            agentVersion: request.agentVersion.isBlank ? nil : request.agentVersion,
            os: text(request.os, facts?.os), arch: text(request.arch, facts?.arch), kernelVersion: text(request.kernelVersion, facts?.kernel),
            osHostname: request.hostname.isBlank ? nil : request.hostname,
            cpuCoresTotal: request.cpuCoresTotal != 0 ? request.cpuCoresTotal : (facts?.cpuCores ?? 0),
            memoryBytesTotal: request.memoryBytesTotal != 0 ? request.memoryBytesTotal : (facts?.memoryTotalBytes ?? 0),
            storageBytesTotal: storage, kvmAvailable: kvmAvailable,
            cloudHypervisorAvailable: request.cloudHypervisorAvailable ?? false,
            netbird: request.netbirdStatus, microVMs: vms, executionUpdates: updates, heldLeases: held,
            hypervisors: facts.map { Array($0.hypervisors.prefix(8).map { String($0.prefix(32)) }) },
            hypervisor: facts.flatMap { $0.hypervisor.isBlank ? nil : String($0.hypervisor.prefix(32)) },
            imageCatalog: request.imageCatalog)
    }

    /// The longest console tail kept per VM, in bytes.
    static let maximumConsoleTailBytes = 64 * 1024

    /// The last ``maximumConsoleTailBytes`` of a console tail, starting at a line.
    static func consoleTail(_ text: String) -> String {
        let bytes = text.utf8
        guard bytes.count > maximumConsoleTailBytes else { return text }
        let tail = bytes.suffix(maximumConsoleTailBytes)
        let start = tail.firstIndex(of: UInt8(ascii: "\n")).map { bytes.index(after: $0) } ?? tail.startIndex
        return String(decoding: bytes[start...], as: UTF8.self)
    }

    /// A reported VM state; the agent's own words (`created`, `deleted`, `failed`) map to
    /// the control plane's states, anything unknown is `CREATING`.
    static func vmState(_ text: String) -> MicroVM.State {
        switch text.trimmedBlanks.uppercased() {
        case "RUNNING": return .running
        case "STOPPED", "CREATED": return .stopped
        case "DELETING": return .deleting
        case "DELETED": return .deleted
        case "ERROR": return .error
        case "FAILED": return .failed
        default: return .creating
        }
    }

    /// An execution state from an update; nil for values that are not states.
    static func executionState(_ text: String) -> Execution.State? {
        switch text.trimmedBlanks.uppercased() {
        case "PENDING": return .pending
        case "IN_PROGRESS", "RUNNING", "STARTED": return .inProgress
        case "SUCCEEDED", "SUCCESS", "OK": return .succeeded
        case "FAILED", "ERROR": return .failed
        default: return nil
        }
    }

    /// A log severity; `warning` is WARN, unknown values are INFO.
    static func severity(_ text: String) -> ExecutionLog.Severity {
        switch text.trimmedBlanks.uppercased() {
        case "DEBUG", "TRACE": return .debug
        case "WARN", "WARNING": return .warn
        case "ERROR", "ERR", "FATAL", "CRITICAL": return .error
        default: return .info
        }
    }
}
