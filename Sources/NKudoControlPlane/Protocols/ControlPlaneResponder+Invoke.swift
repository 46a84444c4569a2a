import Hummingbird
import Logging
import NKudoContract
import NKudoSQL
import NKudoStore

/// How a call failed, as every protocol answers it.
struct CallFailure: Error {
    /// The error for the client.
    let error: APIError
    /// The request could not be decoded or the error is internal: REST answers in JSON
    /// whatever the client asked for.
    let answersInJSON: Bool
}

extension ControlPlaneResponder {
    /// The one code path of every call, whatever its protocol: `prepare` (the protocol's own
    /// header checks; returns the call's deadline), the failed-authentication budget of the
    /// source, authentication, `decode` (the request message from the protocol's body), the
    /// service call within the deadline, and the mapping of whatever went wrong to an
    /// ``APIError`` (logged, and counted and audited when it is a 401).
    func invoke(_ route: RPCRoute<CallContext>, request: Request, context: Context, requestID: String, logger: Logger,
                prepare: () throws -> ContinuousClock.Instant?,
                decode: () async throws -> any ProtoMessage) async -> Result<any ProtoMessage, CallFailure> {
        let method = route.method
        let remoteAddress = Self.remoteAddress(context.channel)
        var caller: Caller?
        do {
            let deadline = try prepare()
            if method.caller != .none, let seconds = authFailures.retryAfter(source: remoteAddress) {
                throw APIError.tooManyRequests("too many failed authentications from this address; retry in \(seconds) s", retryAfter: seconds)
            }
            let authenticated = try await authenticator.authenticate(
                method: method, headers: request.headers, peerCertificate: { peerCertificates.der(of: context.channel) })
            caller = authenticated
            let message = try await decode()
            let channel = context.channel
            let call = CallContext(caller: authenticated, requestID: requestID, logger: logger, remoteAddress: remoteAddress,
                                   isClientConnected: { await ClientInputObserver.isClientConnected(channel) })
            return .success(try await Self.withDeadline(deadline) { try await route.handle(message, call) })
        } catch {
            let failure = failure(error, method: method, caller: caller, requestID: requestID, logger: logger)
            if failure.error.status == .unauthorized {
                await authFailures.fail(reason: failure.error.message, rpc: method.fullName, requestID: requestID, source: remoteAddress,
                                        tenantID: (error as? AuthenticationFailure)?.tenantID ?? caller?.tenantID)
            }
            return .failure(failure)
        }
    }

    /// `error` as the client sees it; internal detail and refusals by the store are logged.
    func failure(_ error: any Error, method: RPCMethod, caller: Caller?, requestID: String, logger: Logger) -> CallFailure {
        let (answer, internalDetail) = APIError.answering(error, requestID: requestID)
        if let internalDetail {
            logger.error("request failed", metadata: [ControlPlaneLogKey.error: .string(internalDetail)])
        } else if let detail = (error as? StoreError)?.underlying {
            logger.info("request refused", metadata: [ControlPlaneLogKey.error: .string(answer.message), ControlPlaneLogKey.detail: .string(detail)])
        }
        return CallFailure(error: answer, answersInJSON: error is WireError || internalDetail != nil)
    }

    /// `body` run until `deadline` (none: unbounded); `deadline_exceeded` once it passes,
    /// and at once when it has passed already.
    static func withDeadline(_ deadline: ContinuousClock.Instant?,
                             _ body: @escaping @Sendable () async throws -> any ProtoMessage) async throws -> any ProtoMessage {
        guard let deadline else { return try await body() }
        guard ContinuousClock.now < deadline else { throw APIError.deadlineExceeded }
        return try await withThrowingTaskGroup(of: (any ProtoMessage)?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(until: deadline, clock: .continuous)
                return nil
            }
            defer { group.cancelAll() }
            guard let result = try await group.next() ?? nil else { throw APIError.deadlineExceeded }
            return result
        }
    }
}

extension APIError {
    /// The call's deadline (`grpc-timeout`, `Connect-Timeout-Ms`) passed before it was answered.
    static let deadlineExceeded = APIError(status: .gatewayTimeout, code: "deadline_exceeded", message: "the call's deadline passed")

    /// 501: the protocol feature or method is not served.
    static func unimplemented(_ message: String) -> APIError {
        APIError(status: connectStatus(for: "unimplemented"), code: "unimplemented", message: message)
    }
}
