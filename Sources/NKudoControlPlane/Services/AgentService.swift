import Foundation
import HTTPTypes
import Logging
import NKudoContract
import NKudoPKI
import NKudoStore
import NKudoSQL
import Prometheus

/// `nkudo.v1.AgentService`: enrollment, heartbeats, plan delivery, results, logs and
/// certificate renewal for edge agents.
struct AgentServiceImplementation: AgentServiceHandler {
    let environment: ServiceEnvironment
    let authority: CertificateAuthority
    /// The CA certificate(s) agents are given, PEM.
    let caCertificatePEM: String
    let caFingerprint: String
    let agentCertificateTTL: TimeInterval
    /// How long the credentials a renewal replaced stay valid if the new ones are never used.
    let renewalGrace: TimeInterval
    let heartbeatIntervalSeconds: Int32
    let lease: LeaseOptions
    /// Counts accepted heartbeats (`nkudo_heartbeats_total`).
    let heartbeats: Counter
    /// Counts the log lines agents dropped because their outbox was full
    /// (`nkudo_agent_log_lines_dropped_total`).
    let droppedLogLines: Counter
    /// Counts the log lines that belong to no execution or plan the agent may write to
    /// (`nkudo_log_lines_unplaced_total`); they are dropped and counted in `dropped_frames`.
    let unplacedLogLines: Counter

    func enroll(_ request: EnrollRequest, context: CallContext) async throws -> EnrollResponse {
        let hostname = !request.hostname.isBlank ? request.hostname : request.requestedHostname
        guard !request.enrollmentToken.isEmpty, !hostname.isBlank, !request.csrPem.isEmpty else {
            throw APIError.badRequest("enrollment_token, hostname and csr_pem are required")
        }
        guard Names.isHostname(hostname) else {
            throw APIError.badRequest("hostname must be 1-253 characters: letters, digits, '.', '-' and '_'")
        }
        let csr = try Self.validatedCSR(request.csrPem)
        let now = environment.now()
        let agentID = SecureRandom.uuid()
        let certificate = try authority.issueClientCertificate(for: csr, commonName: agentID, validity: agentCertificateTTL, now: now)
        let refreshToken = SecureRandom.token()
        let enrollment = NewEnrollment(
            tokenHash: Digest.sha256Hex(request.enrollmentToken), agentID: agentID, hostID: SecureRandom.uuid(), hostname: hostname,
            agentVersion: request.agentVersion.isBlank ? "unknown" : request.agentVersion,
            os: !request.os.isBlank ? request.os : (request.labels["os"] ?? "linux"),
            arch: !request.arch.isBlank ? request.arch : (request.labels["arch"] ?? "amd64"),
            kernelVersion: request.kernelVersion.isBlank ? nil : request.kernelVersion,
            certificateSerial: certificate.serialNumberDecimal, certificateExpiresAt: certificate.notAfter,
            refreshTokenHash: Digest.sha256Hex(refreshToken),
            machineIDSHA256: request.hostFingerprint?.machineIdSha256 ?? "",
            primaryMACSHA256: request.hostFingerprint?.primaryMacSha256 ?? "")
        // An unusable token is a failed authentication (401, counted and audited by the
        // responder); a conflict leaves the token unused.
        let record = try await environment.store.enroll(enrollment, now: now)
        await environment.audit(context, tenantID: record.tenantID, siteID: record.siteID, action: "agent.enroll", resourceType: "agent",
                                resourceID: record.agentID)
        return EnrollResponse(
            tenantId: record.tenantID, siteId: record.siteID, hostId: record.hostID, agentId: record.agentID,
            clientCertificatePem: try certificate.pem(), caCertificatePem: caCertificatePEM, refreshToken: refreshToken,
            heartbeatEndpoint: "/v1/heartbeat", heartbeatIntervalSec: heartbeatIntervalSeconds,
            heartbeatIntervalSeconds: heartbeatIntervalSeconds, caFingerprintSha256: caFingerprint,
            certificateExpiresAt: certificate.notAfter.protoTimestamp)
    }

    func heartbeat(_ request: HeartbeatRequest, context: CallContext) async throws -> HeartbeatResponse {
        // The certificate's serial is checked by the ingest, in its transaction.
        let (agentID, serial): (String, String?) = switch context.caller {
        case .agent(let agent): (agent.id, nil)
        case .agentCertificate(let certificate): (certificate.agentID, certificate.serial)
        default: throw APIError.unauthorized("missing client certificate")
        }
        guard request.agentId.isEmpty || request.agentId.lowercased() == agentID else {
            throw APIError.forbidden("agent_id mismatch")
        }
        var ingest = HeartbeatNormalizer.normalize(request, agentID: agentID, now: environment.now())
        ingest.certificateSerial = serial
        let outcome = try await environment.store.ingestHeartbeat(ingest, lease: lease, now: environment.now())
        heartbeats.increment()
        if request.droppedLogLines > 0 {
            droppedLogLines.increment(by: request.droppedLogLines)
            context.logger.warning("agent dropped log lines: its outbox was full", metadata: [
                ControlPlaneLogKey.agentID: .string(agentID), ControlPlaneLogKey.dropped: .stringConvertible(request.droppedLogLines),
            ])
        }
        return HeartbeatResponse(nextHeartbeatSeconds: heartbeatIntervalSeconds, pendingPlans: outcome.leased.map(Self.leasedPlan),
                                 leaseRejections: outcome.rejections, heartbeatSeq: outcome.heartbeatSeq)
    }

    func ingestLogs(_ request: IngestLogsRequest, context: CallContext) async throws -> IngestLogsResponse {
        let agent = try context.caller.agentRecord()
        guard request.agentId.isEmpty || request.agentId.lowercased() == agent.id else {
            throw APIError.forbidden("agent_id mismatch")
        }
        let now = environment.now()
        var dropped = 0
        var entries: [LogEntry] = []
        for entry in request.entries {
            guard let executionID = Identifiers.canonicalUUID(entry.executionId) else {
                dropped += 1
                continue
            }
            entries.append(LogEntry(executionID: executionID, actionID: entry.actionId.isBlank ? nil : entry.actionId, sequence: entry.sequence,
                                    severity: HeartbeatNormalizer.severity(entry.severity), message: entry.message,
                                    emittedAt: entry.emittedAt?.date ?? now, leaseToken: max(entry.leaseToken, 0)))
        }
        let result = try await environment.store.ingestLogs(agentID: agent.id, entries: entries, now: now)
        countUnplaced(result.unplaced + dropped, agentID: agent.id, context: context)
        return IngestLogsResponse(acceptedFrames: Int32(result.accepted), droppedFrames: Int32(result.dropped + dropped))
    }

    func ingestLogFrame(_ request: IngestLogFrameRequest, context: CallContext) async throws -> IngestLogFrameResponse {
        let agent = try context.caller.agentRecord()
        guard !request.executionId.isBlank else { throw APIError.badRequest("execution_id required") }
        guard let executionID = Identifiers.canonicalUUID(request.executionId) else {
            countUnplaced(1, agentID: agent.id, context: context)
            return IngestLogFrameResponse(acceptedFrames: 0, droppedFrames: 1)
        }
        let now = environment.now()
        let entry = LogEntry(executionID: executionID, actionID: request.actionId.flatMap { $0.isBlank ? nil : $0 },
                             sequence: max(request.sequence, 0), severity: HeartbeatNormalizer.severity(request.level),
                             message: request.message, emittedAt: request.emittedAt?.date ?? now, leaseToken: max(request.leaseToken, 0))
        let result = try await environment.store.ingestLogs(agentID: agent.id, entries: [entry], now: now)
        countUnplaced(result.unplaced, agentID: agent.id, context: context)
        return IngestLogFrameResponse(acceptedFrames: Int32(result.accepted), droppedFrames: Int32(result.dropped))
    }

    /// Counts log lines that could be placed nowhere (malformed ids, unknown executions and
    /// plans, plans the agent holds no lease of).
    private func countUnplaced(_ count: Int, agentID: String, context: CallContext) {
        guard count > 0 else { return }
        unplacedLogLines.increment(by: Int64(count))
        context.logger.notice("log lines of no execution or plan the agent may write to; dropped", metadata: [
            ControlPlaneLogKey.agentID: .string(agentID), ControlPlaneLogKey.count: .stringConvertible(count),
        ])
    }

    func nextPlans(_ request: NextPlansRequest, context: CallContext) async throws -> NextPlansResponse {
        let agent = try context.caller.agentRecord()
        let poll = PlanLongPoll(duration: try RequestedWait(request.wait).duration, arrivals: environment.store.planArrivals)
        let leased = try await poll.plans(siteID: agent.siteID, isClientConnected: context.isClientConnected) {
            try await environment.store.leasePlans(agentID: agent.id, lease: lease, now: environment.now())
        }
        return NextPlansResponse(plans: leased.map(Self.leasedPlan))
    }

    func reportExecutionResult(_ request: ReportExecutionResultRequest, context: CallContext) async throws -> ReportExecutionResultResponse {
        let agent = try context.caller.agentRecord()
        guard !request.results.isEmpty else { throw APIError.badRequest("results are required") }
        let given = (request.planId.flatMap { $0.isBlank ? nil : $0 }) ?? request.executionId
        guard let candidate = Identifiers.canonicalUUID(given) else { throw APIError.notFound("plan not found") }
        let planID = try await environment.store.execution(id: candidate, tenantID: agent.tenantID)?.planId ?? candidate
        let now = environment.now()
        let results = request.results.map { result in
            ResultReport.Result(operationID: result.actionId.trimmingCharacters(in: .whitespaces), ok: result.ok,
                                errorCode: result.errorCode.flatMap { $0.isBlank ? nil : $0.trimmingCharacters(in: .whitespaces) },
                                message: result.message.isBlank ? nil : result.message.trimmingCharacters(in: .whitespaces),
                                startedAt: result.startedAt?.date, finishedAt: result.finishedAt?.date ?? now)
        }
        let report = ResultReport(agentID: agent.id, planID: planID, results: results, leaseToken: max(request.leaseToken, 0))
        let status = try await environment.store.reportResults(report, now: now)
        return ReportExecutionResultResponse(status: "accepted", planStatus: status)
    }

    func renewCertificate(_ request: RenewCertificateRequest, context: CallContext) async throws -> RenewCertificateResponse {
        let agent: AgentRecord
        let expectation: CredentialRotation.Expectation
        switch context.caller {
        case .agent(let current):
            agent = current
            expectation = .certificateSerial(current.certificateSerial)
        case .agentWithExpiredCertificate(let expired):
            guard !request.refreshToken.isEmpty else {
                throw APIError.unauthorized("the client certificate has expired: renew with the refresh token")
            }
            agent = expired
            expectation = .refreshTokenHash(Digest.sha256Hex(request.refreshToken))
        default:
            throw APIError.unauthorized("missing client certificate")
        }
        let csr = try Self.validatedCSR(request.csrPem)
        let now = environment.now()
        let certificate = try authority.issueClientCertificate(for: csr, commonName: agent.id, validity: agentCertificateTTL, now: now)
        let refreshToken = SecureRandom.token()
        let rotation = CredentialRotation(agentID: agent.id, expected: expectation, newCertificateSerial: certificate.serialNumberDecimal,
                                          newCertificateExpiresAt: certificate.notAfter, newRefreshTokenHash: Digest.sha256Hex(refreshToken),
                                          graceUntil: now.addingTimeInterval(renewalGrace))
        _ = try await environment.store.rotateAgentCredentials(rotation, now: now)
        await environment.audit(context, tenantID: agent.tenantID, siteID: agent.siteID, action: "agent.renew", resourceType: "agent",
                                resourceID: agent.id)
        return RenewCertificateResponse(clientCertificatePem: try certificate.pem(), caCertificatePem: caCertificatePEM,
                                        refreshToken: refreshToken, certificateExpiresAt: certificate.notAfter.protoTimestamp)
    }

    /// The CSR if it parses, its self-signature holds and its key passes the policy; else
    /// 400 with a message of our own: OpenSSL's reason strings are not echoed to clients
    /// (reference §15 #39), the policy's own explanation is.
    static func validatedCSR(_ pem: String) throws -> CertificateSigningRequest {
        do {
            let csr = try CertificateSigningRequest(pem: pem)
            try csr.validate()
            return csr
        } catch {
            switch error.code {
            case .policy:
                throw APIError.badRequest("invalid csr: \(error.message)")
            case .signature:
                throw APIError.badRequest("invalid csr: its self-signature does not verify")
            case .invalidPEM:
                throw APIError.badRequest("invalid csr: csr_pem is not a PEM certificate signing request")
            default:
                throw APIError.badRequest("invalid csr: the certificate signing request cannot be used")
            }
        }
    }

    /// A leased plan in the agent's format (`MicroVMCreate` with `vcpu`, …).
    static func leasedPlan(_ record: LeasedPlanRecord) -> LeasedPlan {
        LeasedPlan(planId: record.planID, executionId: record.planID, actions: record.actions.map(leasedAction), leaseToken: record.leaseToken,
                   leaseExpiresAt: record.leaseExpiresAt.protoTimestamp)
    }

    /// A leased action in the agent's format.
    private static func leasedAction(_ action: LeasedPlanRecord.Action) -> LeasedPlan.Action {
        let type: LeasedPlan.Action.TypeEnum
        var params = LeasedPlan.Action.Params(vmId: action.vmID)
        switch action.operation {
        case .create:
            type = .microVMCreate
            params.name = action.name
            params.vcpu = action.vcpuCount
            params.memoryMib = action.memoryMiB
            if let submitted = try? ApplyPlanRequest.Action(jsonString: action.payloadJSON, options: .init(ignoreUnknownFields: true)) {
                params.rootfsPath = submitted.image.isEmpty ? nil : submitted.image
                params.kernelPath = submitted.kernel.isEmpty ? nil : submitted.kernel
                params.initrdPath = submitted.initrd.isEmpty ? nil : submitted.initrd
                params.extraArgs = submitted.kernelArgs
                params.sshAuthorizedKeys = submitted.sshAuthorizedKeys
                params.userData = submitted.userData.isEmpty ? nil : submitted.userData
            }
        case .start: type = .microVMStart
        case .stop: type = .microVMStop
        default: type = .microVMDelete
        }
        return LeasedPlan.Action(actionId: action.operationID, executionId: action.executionID, type: type, params: params, timeout: 30)
    }
}
