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
///   not retired (the heartbeat checks the serial in its own transaction:
///   ``Caller/agentCertificate(_:)``). The TLS layer accepts any certificate so that all
///   of this answers 401, not a handshake failure. Certificate renewal also accepts an
///   expired certificate of ours (the refresh token must then match).
///
/// Authentication failures are audited and counted per source (``AuthFailureGuard``): a
/// source past its budget gets 429 with `Retry-After` before its credentials are looked at.
struct ControlPlaneAuthenticator: CallerAuthenticator {
    let adminKey: [UInt8]
    let store: any Store
    let authority: Certificate
    let failures: AuthFailureGuard
    let now: @Sendable () -> Date
    let verified = VerifiedClientCertificates()

    /// Creates the authenticator.
    init(adminKey: String, store: any Store, authority: Certificate, failures: AuthFailureGuard, now: @escaping @Sendable () -> Date) {
        self.adminKey = Array(adminKey.trimmingCharacters(in: .whitespacesAndNewlines).utf8)
        self.store = store
        self.authority = authority
        self.failures = failures
        self.now = now
    }

    func authenticate(method: RPCMethod, headers: HTTPFields, peerCertificate: @Sendable () async -> [UInt8]?,
                      requestID: String, remoteAddress: String?) async throws -> Caller {
        if method.caller == .none {
            return .anonymous
        }
        if let seconds = failures.retryAfter(source: remoteAddress) {
            throw APIError.tooManyRequests("too many failed authentications from this address; retry in \(seconds) s", retryAfter: seconds)
        }
        switch method.caller {
        case .none:
            return .anonymous
        case .admin:
            let presented = (headers[.adminKey] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            guard !adminKey.isEmpty, Digest.constantTimeEquals(Array(presented.utf8), adminKey) else {
                throw await failure("invalid admin key", method: method, requestID: requestID, remoteAddress: remoteAddress)
            }
            return .admin
        case .tenant:
            let presented = (headers[.apiKey] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            guard !presented.isEmpty else {
                throw await failure("missing api key", method: method, requestID: requestID, remoteAddress: remoteAddress)
            }
            let record: APIKeyRecord?
            do {
                record = try await store.apiKey(hash: Digest.sha256Hex(presented), now: now())
            } catch {
                throw ServiceEnvironment.map(error)
            }
            guard let record else {
                throw await failure("invalid api key", method: method, requestID: requestID, remoteAddress: remoteAddress)
            }
            return .tenant(record)
        case .agent:
            return try await authenticateAgent(method: method, der: await peerCertificate(), requestID: requestID, remoteAddress: remoteAddress)
        }
    }

    private func authenticateAgent(method: RPCMethod, der: [UInt8]?, requestID: String, remoteAddress: String?) async throws -> Caller {
        let renewal = method.methodName == "RenewCertificate"
        guard let der else {
            throw await failure("missing client certificate", method: method, requestID: requestID, remoteAddress: remoteAddress)
        }
        guard let certificate = verified.checked(der, issuer: authority) else {
            throw await failure("invalid client certificate", method: method, requestID: requestID, remoteAddress: remoteAddress)
        }
        let agentID = certificate.agentID
        let expired = !certificate.isValid(at: now())
        if expired && !renewal {
            throw await failure("client certificate expired: renew it with the refresh token", method: method, requestID: requestID,
                                remoteAddress: remoteAddress)
        }
        if Self.checksSerialInTransaction(method) {
            return .agentCertificate(AgentCertificate(agentID: agentID, serial: certificate.serial))
        }
        let agent: AgentRecord?
        do {
            agent = try await store.agent(id: agentID)
        } catch {
            throw ServiceEnvironment.map(error)
        }
        guard let agent else {
            throw await failure("unknown agent", method: method, requestID: requestID, remoteAddress: remoteAddress)
        }
        switch agent.credential(serial: certificate.serial, at: now()) {
        case .current:
            if agent.previousCertificateSerial != nil && !expired && !renewal {
                // The renewed certificate is in use: the one it replaced stops working.
                do {
                    try await store.confirmCurrentCredentials(agentID: agent.id)
                } catch {
                    throw ServiceEnvironment.map(error)
                }
            }
        case .previous:
            break
        case .superseded:
            throw await failure("certificate serial mismatch", method: method, requestID: requestID, remoteAddress: remoteAddress,
                                tenantID: agent.tenantID)
        case .retired:
            throw await failure("agent retired", method: method, requestID: requestID, remoteAddress: remoteAddress, tenantID: agent.tenantID)
        }
        return expired ? .agentWithExpiredCertificate(agent) : .agent(agent)
    }

    /// RPCs that check the certificate's serial against the agent's current one themselves,
    /// in their transaction: the heartbeat, so that it costs one pool job and round trip
    /// fewer (README, Performance).
    static func checksSerialInTransaction(_ method: RPCMethod) -> Bool {
        method.serviceName == AgentService.Method.heartbeat.serviceName && method.methodName == AgentService.Method.heartbeat.methodName
    }

    /// Counts and audits the failure and returns the 401 to throw.
    private func failure(_ reason: String, method: RPCMethod, requestID: String, remoteAddress: String?, tenantID: String? = nil) async -> APIError {
        await failures.fail(reason: reason, rpc: "\(method.serviceName)/\(method.methodName)", requestID: requestID, source: remoteAddress,
                            tenantID: tenantID)
        return APIError.unauthorized(reason)
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
