import NKudoSQL
internal import Logging
import Synchronization

#if canImport(Glibc)
internal import Glibc
#elseif canImport(Darwin)
internal import Darwin
#endif

/// A PostgreSQL session of its own that `LISTEN`s on one channel, on a thread of its own:
/// the notifications of every process sharing the database (`NOTIFY`, `pg_notify`) reach
/// this process as a stream of payloads.
///
/// A lost session is opened again (every second until it works). Since notifications sent
/// meanwhile are lost, the stream yields `nil` whenever the session (re)starts listening:
/// "anything may have happened".
final class PostgresNotificationListener: Sendable {
    /// The payloads received; `nil` when some may have been missed.
    let notifications: AsyncStream<String?>
    private let stopped = StopFlag()
    private let executor = BlockingExecutor(numberOfThreads: 1)
    private let finished: Task<Void, Never>

    /// How long one wait for the server lasts: the longest a stop waits for the thread.
    private static let pollMilliseconds: Int32 = 250

    /// Starts listening on `channel` of the database at `url`.
    init(url: String, channel: String, logger: Logger) {
        let (stream, continuation) = AsyncStream.makeStream(of: String?.self, bufferingPolicy: .bufferingNewest(4096))
        notifications = stream
        let stopped = self.stopped
        let executor = self.executor
        finished = Task {
            _ = await executor.run {
                Self.listen(url: url, channel: channel, stopped: stopped, continuation: continuation, logger: logger)
            }
            continuation.finish()
        }
    }

    /// Stops listening and closes the session; the stream finishes.
    func stop() async {
        stopped.value.store(true, ordering: .relaxed)
        await finished.value
        await executor.shutdown()
    }

    /// The listening loop, on the listener's thread, until `stopped`.
    private static func listen(url: String, channel: String, stopped: StopFlag,
                               continuation: AsyncStream<String?>.Continuation, logger: Logger) {
        var connection: PostgresConnection?
        var reported = false
        while !stopped.value.load(ordering: .relaxed) {
            guard let listening = connection else {
                do {
                    let opened = try PostgresConnection.connect(url: url, logger: logger)
                    try opened.listen(channel: channel)
                    connection = opened
                    reported = false
                    continuation.yield(nil)
                    logger.debug("listening for PostgreSQL notifications", metadata: [DriverLogKey.channel: "\(channel)"])
                } catch {
                    if !reported {
                        logger.warning("cannot listen for PostgreSQL notifications; retrying every second", metadata: [
                            DriverLogKey.channel: "\(channel)", DriverLogKey.error: "\(error)",
                        ])
                        reported = true
                    }
                    for _ in 0..<4 where !stopped.value.load(ordering: .relaxed) {
                        usleep(UInt32(pollMilliseconds) * 1000)
                    }
                }
                continue
            }
            do {
                for payload in try listening.notifications(waitingUpTo: pollMilliseconds) {
                    continuation.yield(payload)
                }
            } catch {
                logger.warning("the PostgreSQL session listening for notifications was lost; opening another", metadata: [
                    DriverLogKey.channel: "\(channel)", DriverLogKey.error: "\(error)",
                ])
                connection = nil
            }
        }
    }
}

/// The listener's stop request, shared with its thread.
private final class StopFlag: Sendable {
    let value = Atomic<Bool>(false)
}
