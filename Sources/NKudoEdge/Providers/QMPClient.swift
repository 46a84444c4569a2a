import Dispatch
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A client of QEMU's machine protocol (QMP) on the VM's unix socket (`-qmp
/// unix:PATH,server=on,wait=off`): one connection per call, the greeting read,
/// `qmp_capabilities` negotiated, then the command; asynchronous events that arrive before
/// the answer are collected. JSON lines both ways. The blocking socket calls run on a
/// Dispatch queue, never on Swift's cooperative pool, each bounded by ``timeout``.
struct QMPClient: Sendable {
    /// What one command answered.
    struct Reply: @unchecked Sendable {
        /// The `return` value (a dictionary for queries, empty for actions).
        let value: Any
        /// The names of the events QEMU sent before the answer (`SHUTDOWN`, `POWERDOWN`, …).
        let events: [String]
    }

    /// The QMP socket.
    let socketPath: String
    /// Seconds one call may take (connect, greeting, negotiation, answer).
    let timeout: Double

    /// `query-status`: the run state (`running`, `shutdown`, `guest-panicked`, `paused`, …).
    func status() async throws(ProviderError) -> String {
        let reply = try await execute("query-status")
        guard let status = (reply.value as? [String: Any])?["status"] as? String else {
            throw ProviderError(.api, "qmp query-status: no status in the answer")
        }
        return status
    }

    /// Runs `command` with `arguments` and returns its answer.
    ///
    /// - Throws: ``ProviderError/Code/api`` when QEMU answers with an error, the socket
    ///   cannot be reached or the call takes longer than ``timeout``.
    func execute(_ command: String, arguments: [String: String]? = nil) async throws(ProviderError) -> Reply {
        let socketPath = socketPath
        let timeout = timeout
        let result: Result<Reply, ProviderError> = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(returning: Result { () throws(ProviderError) -> Reply in
                    let connection = try Connection(path: socketPath, timeout: timeout)
                    defer { connection.disconnect() }
                    return try connection.call(command, arguments: arguments)
                })
            }
        }
        return try result.get()
    }

    /// One QMP connection: the socket descriptor, owned and closed here, and what was read
    /// past the last line.
    private final class Connection {
        private let descriptor: Int32
        private var buffer: [UInt8] = []
        private let deadline: DispatchTime

        init(path: String, timeout: Double) throws(ProviderError) {
            deadline = .now() + timeout
            descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard descriptor >= 0 else { throw Self.failure("socket") }
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            let bytes = Array(path.utf8)
            guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
                close(descriptor)
                throw ProviderError(.invalidArgument, "qmp socket path \(path) is too long for a unix socket")
            }
            withUnsafeMutableBytes(of: &address.sun_path) { raw in
                raw.copyBytes(from: bytes)
                raw[bytes.count] = 0
            }
            var interval = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - timeout.rounded(.down)) * 1_000_000))
            setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &interval, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &interval, socklen_t(MemoryLayout<timeval>.size))
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            guard connected == 0 else {
                let error = Self.failure("connect \(path)")
                close(descriptor)
                throw error
            }
        }

        func disconnect() {
            close(descriptor)
        }

        /// Greeting, `qmp_capabilities`, `command`; the answer and the events seen.
        func call(_ command: String, arguments: [String: String]?) throws(ProviderError) -> Reply {
            var events: [String] = []
            guard try readMessage(events: &events)["QMP"] != nil else {
                throw ProviderError(.api, "qmp: the socket did not greet with QMP")
            }
            try write(["execute": "qmp_capabilities"])
            _ = try answer(events: &events)
            var message: [String: Any] = ["execute": command]
            if let arguments { message["arguments"] = arguments }
            try write(message)
            return Reply(value: try answer(events: &events), events: events)
        }

        /// The next `return`, collecting events on the way.
        private func answer(events: inout [String]) throws(ProviderError) -> Any {
            while true {
                let message = try readMessage(events: &events)
                if let value = message["return"] {
                    return value
                }
                if let error = message["error"] as? [String: Any] {
                    throw ProviderError(.api, "qmp: \(error["class"] as? String ?? "error"): \(error["desc"] as? String ?? "")")
                }
            }
        }

        /// The next message that is not an event; events' names go to `events`.
        private func readMessage(events: inout [String]) throws(ProviderError) -> [String: Any] {
            while true {
                let line = try readLine()
                guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else {
                    throw ProviderError(.api, "qmp: an answer is not a JSON object")
                }
                if let event = object["event"] as? String {
                    events.append(event)
                    continue
                }
                return object
            }
        }

        private func readLine() throws(ProviderError) -> [UInt8] {
            while true {
                if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = Array(buffer[..<newline])
                    buffer.removeSubrange(...newline)
                    return line
                }
                guard DispatchTime.now() < deadline else { throw ProviderError(.api, "qmp: no answer in time") }
                var chunk = [UInt8](repeating: 0, count: 4096)
                let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else {
                    throw count == 0 ? ProviderError(.api, "qmp: QEMU closed the connection") : Self.failure("qmp read")
                }
                buffer += chunk[..<count]
                guard buffer.count <= 1 << 20 else { throw ProviderError(.api, "qmp: an answer is larger than 1 MiB") }
            }
        }

        private func write(_ message: [String: Any]) throws(ProviderError) {
            guard var data = try? JSONSerialization.data(withJSONObject: message) else {
                throw ProviderError(.api, "qmp: cannot encode \(message)")
            }
            data.append(UInt8(ascii: "\n"))
            var offset = 0
            while offset < data.count {
                let written = data.withUnsafeBytes { send(descriptor, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
                if written < 0 && errno == EINTR { continue }
                guard written > 0 else { throw Self.failure("qmp write") }
                offset += written
            }
        }

        private static func failure(_ operation: String) -> ProviderError {
            ProviderError(.api, "\(operation): \(String(cString: strerror(errno)))")
        }
    }
}
