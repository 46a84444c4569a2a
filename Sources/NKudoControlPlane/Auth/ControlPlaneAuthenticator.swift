import Foundation
import HTTPTypes
import Logging
import Synchronization
import NKudoContract
import NKudoPKI
import NKudoStore
import NKudoSQL

/// The control plane's ``CallerAuthenticator``.
///
/// - admin RPCs: `X-Admin-Key`, trimmed, compared in constant time;
/// - tenant RPCs: `X-API-Key`, looked up by SHA-256 (never stored in clear), not revoked or expired;
/// - agent RPCs: the TLS client certificate must be issued by our CA, unexpired, carry
///   client-auth usage, and its CN (agent id) and serial must be the agent's current ones,
///   or the ones the latest renewal replaced while they are in grace, of an agent that is
///   not retired. What the RPC declares in the contract (`nkudo.api.agent_certificate_check`)
///   relaxes this: the heartbeat checks the serial in its own transaction
///   (``Caller/agentCertificate(_:)``), renewal also accepts an expired certificate of ours
///   (the refresh token must then match). The TLS layer accepts any certificate so that
///   all of this answers 401, not a handshake failure;
/// - enrollment: the token in the body is checked by the store, in the enrollment's
///   transaction.
///
/// Failures are thrown as ``AuthenticationFailure``; the responder counts and audits them.
struct ControlPlaneAuthenticator: CallerAuthenticator {
    let adminKey: [UInt8]
    let store: any Store
    let authority: Certificate
    let now: @Sendable () -> Date
    let verified = VerifiedClientCertificates()

    /// Creates the authenticator.
    init(adminKey: String, store: any Store, authority: Certificate, now: @escaping @Sendable () -> Date) {
        self.adminKey = Array(adminKey.trimmingCharacters(in: .whitespacesAndNewlines).utf8)
        self.store = store
        self.authority = authority
        self.now = now
    }

    func authenticate(method: RPCMethod, headers: HTTPFields, peerCertificate: @Sendable () -> [UInt8]?) async throws -> Caller {
        switch method.caller {
        case .none, .enrollmentToken:
            return .anonymous
        case .admin:
            let presented = (headers[.adminKey] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            guard !adminKey.isEmpty, Digest.constantTimeEquals(Array(presented.utf8), adminKey) else {
                throw AuthenticationFailure("invalid admin key")
            }
            return .admin
        case .tenant:
            let presented = (headers[.apiKey] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            guard !presented.isEmpty else { throw AuthenticationFailure("missing api key") }
            guard let record = try await store.apiKey(hash: Digest.sha256Hex(presented), now: now()) else {
                throw AuthenticationFailure("invalid api key")
            }
            return .tenant(record)
        case .agent:
            return try await authenticateAgent(check: method.agentCertificateCheck, der: peerCertificate())
        }
    }

    private func authenticateAgent(check: RPCAgentCertificateCheck, der: [UInt8]?) async throws -> Caller {
        guard let der else { throw AuthenticationFailure("missing client certificate") }
        guard let certificate = verified.checked(der, issuer: authority) else {
            throw AuthenticationFailure("invalid client certificate")
        }
        let expired = !certificate.isValid(at: now())
        if expired && check != .expiredAllowed {
            throw AuthenticationFailure("client certificate expired: renew it with the refresh token")
        }
        if check == .serialInTransaction {
            return .agentCertificate(AgentCertificate(agentID: certificate.agentID, serial: certificate.serial))
        }
        guard let agent = try await store.agent(id: certificate.agentID) else {
            throw AuthenticationFailure("unknown agent")
        }
        switch agent.credential(serial: certificate.serial, at: now()) {
        case .current:
            if agent.previousCertificateSerial != nil && !expired && check != .expiredAllowed {
                // The renewed certificate is in use: the one it replaced stops working.
                try await store.confirmCurrentCredentials(agentID: agent.id)
            }
        case .previous:
            break
        case .superseded:
            throw AuthenticationFailure("certificate serial mismatch", tenantID: agent.tenantID)
        case .retired:
            throw AuthenticationFailure("agent retired", tenantID: agent.tenantID)
        }
        return expired ? .agentWithExpiredCertificate(agent) : .agent(agent)
    }
}

extension HTTPField.Name {
    /// `X-Admin-Key`.
    static let adminKey = HTTPField.Name("X-Admin-Key")!
    /// `X-API-Key`.
    static let apiKey = HTTPField.Name("X-API-Key")!
}

/// Client certificates that passed the checks that depend on the certificate alone (issued
/// by our CA, client-auth usage, an agent id as CN), by SHA-256 of their DER, so that a
/// kept-alive agent connection is not parsed and its signature verified on every request:
/// that was a tenth of a heartbeat's CPU time (README, Performance). Expiry and the
/// agent's current serial are still checked on every request. Bounded; emptied when full.
final class VerifiedClientCertificates: Sendable {
    struct Checked: Sendable {
        let agentID: String
        let serial: String
        let notBefore: Date
        let notAfter: Date

        func isValid(at date: Date) -> Bool { notBefore <= date && date <= notAfter }
    }

    static let limit = 50_000
    private let entries = Mutex<[String: Checked]>([:])

    /// The checked certificate, or nil when `der` is not a client certificate of `issuer`
    /// naming an agent.
    func checked(_ der: [UInt8], issuer: Certificate) -> Checked? {
        let key = Digest.sha256Hex(der)
        if let hit = entries.withLock({ $0[key] }) { return hit }
        guard let certificate = try? Certificate(der: der), certificate.isIssued(by: issuer), certificate.hasClientAuthUsage,
              let commonName = certificate.commonName, let agentID = Identifiers.canonicalUUID(commonName) else {
            return nil
        }
        let checked = Checked(agentID: agentID, serial: certificate.serialNumberDecimal, notBefore: certificate.notBefore,
                              notAfter: certificate.notAfter)
        entries.withLock {
            if $0.count >= Self.limit { $0.removeAll() }
            $0[key] = checked
        }
        return checked
    }
}
