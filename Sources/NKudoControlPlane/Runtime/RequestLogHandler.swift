public import Logging

/// swift-log's `StreamLogHandler` output, line for line, with the logger's metadata merged
/// into each line when it is written instead of formatted again on every change.
///
/// `StreamLogHandler` sorts and prints all of its metadata whenever a key is set, and the
/// control plane sets two per request (request id, route; Hummingbird a third) while writing
/// one line: the formatting was ~1.7 % of its CPU per heartbeat (README, Performance). Lines
/// are the same text (metadata given with a line wins over the logger's, as before).
public struct RequestLogHandler: LogHandler {
    private var stream: StreamLogHandler
    public var metadata: Logger.Metadata = [:]

    /// Writes what `stream` (a handler without metadata of its own) would write.
    public init(writingTo stream: StreamLogHandler) {
        self.stream = stream
    }

    public var logLevel: Logger.Level {
        get { stream.logLevel }
        set { stream.logLevel = newValue }
    }

    public var metadataProvider: Logger.MetadataProvider? {
        get { stream.metadataProvider }
        set { stream.metadataProvider = newValue }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var event = event
        if !metadata.isEmpty {
            event.metadata = metadata.merging(event.metadata ?? [:]) { _, explicit in explicit }
        }
        stream.log(event: event)
    }
}
