import Logging
import NKudoControlPlane
import Synchronization
import Testing

/// The control plane's log handler against swift-log's `StreamLogHandler`.
@Suite("Request log handler")
struct RequestLogHandlerTests {
    /// The lines a handler wrote.
    final class Lines: Sendable {
        let text = Mutex("")
    }

    struct Capture: TextOutputStream, Sendable {
        let lines: Lines
        mutating func write(_ string: String) { lines.text.withLock { $0 += string } }
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String { "disk full" }
    }

    /// Sets, overrides and removes metadata and logs at several levels, as a request does.
    static func exercise(_ logger: inout Logger) {
        logger.logLevel = .debug
        logger.info("started")
        logger[metadataKey: "hb.request.id"] = .stringConvertible(42)
        logger[metadataKey: "request_id"] = "7c9e2f4a-6b8d-4c1e-a3f5-0b2d4e6f8a9c"
        logger[metadataKey: "route"] = "POST /agents/heartbeat"
        logger.info("request", metadata: ["status": .stringConvertible(200), "route": "override", "duration_ms": "1.25"])
        logger.debug("detail", metadata: ["items": .array(["a", "b"]), "nested": .dictionary(["k": "v"])])
        logger.trace("not written")
        logger[metadataKey: "route"] = nil
        logger.error("request failed", error: Failure())
        logger.notice("done")
    }

    /// The lines without their time stamps (the first word).
    static func lines(_ lines: Lines) -> [Substring] {
        lines.text.withLock { $0 }.split(separator: "\n").map { $0.drop { $0 != " " } }
    }

    @Test("writes the same lines as StreamLogHandler, metadata merged per line")
    func sameLines() {
        let reference = Lines(), written = Lines()
        var plain = Logger(label: "nkudo.test") { StreamLogHandler(label: $0, stream: Capture(lines: reference), metadataProvider: nil) }
        var lazy = Logger(label: "nkudo.test") {
            RequestLogHandler(writingTo: StreamLogHandler(label: $0, stream: Capture(lines: written), metadataProvider: nil))
        }
        Self.exercise(&plain)
        Self.exercise(&lazy)
        #expect(Self.lines(written).count == 5)
        #expect(Self.lines(written) == Self.lines(reference))
    }
}
