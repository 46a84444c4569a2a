import Foundation
import HTTPTypes
import Logging
import NKudoContract
import NKudoPKI
import NKudoStore
import NKudoSQL

/// Shared pieces of the services: the store, the clock, auditing. Store errors are not
/// caught here: they reach the responder, which maps every error to its status in one place.
struct ServiceEnvironment: Sendable {
    let store: any Store
    let now: @Sendable () -> Date

    /// Records an audit event; a failure is logged, never surfaced.
    func audit(_ context: CallContext, tenantID: String?, siteID: String? = nil, action: String, resourceType: String,
               resourceID: String, metadata: AuditMetadata = AuditMetadata()) async {
        let (actorType, actorID): (AuditEvent.ActorType, String?) = switch context.caller {
        case .tenant(let key): (.user, key.id)
        case .agent(let agent), .agentWithExpiredCertificate(let agent): (.agent, agent.id)
        case .agentCertificate(let certificate): (.agent, certificate.agentID)
        case .admin, .anonymous: (.system, nil)
        }
        let event = NewAuditEvent(tenantID: tenantID, siteID: siteID, actorType: actorType, actorID: actorID, action: action,
                               resourceType: resourceType, resourceID: resourceID, requestID: context.requestID,
                               sourceIP: context.remoteAddress, metadata: metadata, occurredAt: now())
        do {
            try await store.recordAudit(event)
        } catch {
            context.logger.warning("audit event lost", metadata: [ControlPlaneLogKey.action: .string(action), ControlPlaneLogKey.error: .string(error.description)])
        }
    }
}

/// Canonical ids.
enum Identifiers {
    /// The canonical lowercase form of a UUID string (8-4-4-4-12 hexadecimal digits, either
    /// case, blanks around it ignored), or nil when it is not a UUID.
    ///
    /// Checked byte by byte, without Foundation: every reported VM id of every heartbeat
    /// passes here, and `UUID(uuidString:)` with `uuidString` parsed and printed each one
    /// through `sscanf` and `sprintf` (2 % of the control plane at 500 heartbeats/s; README,
    /// Performance).
    static func canonicalUUID(_ text: String) -> String? {
        // 36 bytes with a blank in them are no UUID either way: only shorter or longer
        // texts are trimmed (scalar by scalar).
        let trimmed = text.utf8.count == 36 ? text[...] : text.trimmedBlanks
        guard trimmed.utf8.count == 36 else { return nil }
        var hasUppercase = false
        for (offset, byte) in trimmed.utf8.enumerated() {
            switch (offset, byte) {
            case (8, UInt8(ascii: "-")), (13, UInt8(ascii: "-")), (18, UInt8(ascii: "-")), (23, UInt8(ascii: "-")):
                continue
            case (8, _), (13, _), (18, _), (23, _):
                return nil
            case (_, UInt8(ascii: "0")...UInt8(ascii: "9")), (_, UInt8(ascii: "a")...UInt8(ascii: "f")):
                continue
            case (_, UInt8(ascii: "A")...UInt8(ascii: "F")):
                hasUppercase = true
            default:
                return nil
            }
        }
        // The common case, a canonical id as sent, is returned as it is, without a copy.
        if !hasUppercase && trimmed.utf8.count == text.utf8.count { return text }
        return String(decoding: trimmed.utf8.map { (UInt8(ascii: "A")...UInt8(ascii: "F")) ~= $0 ? $0 | 0x20 : $0 }, as: UTF8.self)
    }

    /// A canonical UUID or the given API error.
    static func require(_ text: String, orThrow error: APIError) throws -> String {
        guard let id = canonicalUUID(text) else { throw error }
        return id
    }
}

extension Caller {
    /// The tenant's API key (tenant RPCs only reach services with one).
    func tenantKey() throws -> APIKeyRecord {
        guard case .tenant(let key) = self else { throw APIError.unauthorized("missing api key") }
        return key
    }

    /// The authenticated agent (agent RPCs only reach services with one).
    func agentRecord() throws -> AgentRecord {
        guard case .agent(let agent) = self else { throw APIError.unauthorized("missing client certificate") }
        return agent
    }
}

extension Date {
    var protoTimestamp: ProtoTimestamp { ProtoTimestamp(date: self) }
}

extension String {
    var isBlank: Bool { unicodeScalars.allSatisfy(\.properties.isWhitespace) }

    /// The string without leading and trailing blanks (spaces and tabs, what `.whitespaces`
    /// names), without bridging to NSString: that was 5 % of a heartbeat (README, Performance).
    var trimmedBlanks: Substring {
        func isBlank(_ scalar: Unicode.Scalar) -> Bool { scalar == "\t" || scalar.properties.generalCategory == .spaceSeparator }
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !isBlank($0) }), let last = scalars.lastIndex(where: { !isBlank($0) }) else {
            return ""
        }
        return Substring(scalars[first...last])
    }
}
