import NKudoSQL
/// When a PostgreSQL body runs again, as a pure state machine.
///
/// - A lost connection (server restart, terminated backend) is retried once, on a new
///   connection, only when nothing of the body can have taken effect: no statement of the
///   body succeeded and no `COMMIT` was sent.
/// - A serialization failure or deadlock (SQLSTATE 40001, 40P01) rolled the transaction
///   back: a transaction body runs again, at most `maximumSerializationRetries` times.
/// - Anything else is reported at once.
struct PostgresRetryStateMachine {
    static let maximumSerializationRetries = 3

    enum Action: Hashable {
        /// Run the body again on a new connection.
        case retryOnNewConnection
        /// Run the body again on the same connection.
        case retry
        /// Report the error.
        case fail
        /// Report that the transaction could not be serialized after every retry.
        case failSerializationRetriesExhausted
    }

    /// Whether the body runs in a transaction (`withTransaction`).
    let inTransaction: Bool
    private(set) var attempts = 1
    private var reconnected = false
    private var serializationRetries = 0

    init(inTransaction: Bool) {
        self.inTransaction = inTransaction
    }

    /// An attempt failed with `failure` (`nil`: an ordinary error); `bodyMayHaveTakenEffect`
    /// when a statement of the body succeeded or `COMMIT` was sent.
    mutating func attemptFailed(_ failure: PostgresFailure?, bodyMayHaveTakenEffect: Bool) -> Action {
        switch failure {
        case .connectionLost where !reconnected && !bodyMayHaveTakenEffect:
            reconnected = true
            attempts += 1
            return .retryOnNewConnection
        case .serialization where inTransaction:
            guard serializationRetries < Self.maximumSerializationRetries else {
                return .failSerializationRetriesExhausted
            }
            serializationRetries += 1
            attempts += 1
            return .retry
        case .connectionLost, .serialization, nil:
            return .fail
        }
    }
}
