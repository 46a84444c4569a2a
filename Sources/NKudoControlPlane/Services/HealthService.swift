import Foundation
import NKudoContract

/// `nkudo.v1.HealthService`: liveness.
struct HealthServiceImplementation: HealthServiceHandler {
    let now: @Sendable () -> Date

    func check(_ request: CheckRequest, context: CallContext) async throws -> CheckResponse {
        CheckResponse(status: "ok", time: now().protoTimestamp)
    }
}
