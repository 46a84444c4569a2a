import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// The fake VMM: VM state, fault injection and call recording.
///
/// Environment:
/// - `FAKE_CH_RECORD`: file the calls are appended to as JSON lines
///   (`{"method","path","body"}`; the first line is `{"argv":[…]}`); default `<socket>.calls`.
/// - `FAKE_CH_FAIL`: comma-separated endpoints (`vm.boot`, `vmm.ping`, …) answered 500.
/// - `FAKE_CH_HANG`: comma-separated endpoints never answered.
/// - `FAKE_CH_EXIT_AFTER_BOOT=1`: exit with status 1 as soon as the guest runs.
/// - `FAKE_CH_NO_AUTOBOOT=1`: leave a VM with a payload `Created` until `vm.boot`.
/// - `FAKE_CH_KEEP_STALE_SOCKET=1`: fail like the real binary when the socket path exists.
/// - `FAKE_CH_IGNORE_SIGTERM=1`: ignore SIGTERM (so only SIGKILL stops it).
final class FakeVMM: Sendable {
    private struct State {
        var vm: String?
    }

    let options: CommandLineOptions
    let failing: Set<String>
    let hanging: Set<String>
    let exitAfterBoot: Bool
    let recordPath: String
    private let state: Mutex<State>
    private let recordLock = Mutex(())

    init(options: CommandLineOptions, environment: [String: String]) {
        self.options = options
        failing = Self.list(environment["FAKE_CH_FAIL"])
        hanging = Self.list(environment["FAKE_CH_HANG"])
        exitAfterBoot = environment["FAKE_CH_EXIT_AFTER_BOOT"] == "1"
        recordPath = environment["FAKE_CH_RECORD"] ?? "\(options.apiSocket).calls"
        let autoboot = environment["FAKE_CH_NO_AUTOBOOT"] != "1"
        state = Mutex(State(vm: options.hasPayload ? (autoboot ? "Running" : "Created") : nil))
    }

    static func main(arguments: [String], environment: [String: String]) throws {
        let options = try CommandLineOptions(arguments)
        let vmm = FakeVMM(options: options, environment: environment)
        vmm.record(["argv": arguments])
        if environment["FAKE_CH_IGNORE_SIGTERM"] == "1" {
            signal(SIGTERM, SIG_IGN)
        }
        if let serial = options.serial.flatMap({ CommandLineOptions.keyValues($0)["file"] }) {
            _ = FileManager.default.createFile(atPath: serial, contents: Data("fake-cloud-hypervisor console\n".utf8))
        }
        let keepStale = environment["FAKE_CH_KEEP_STALE_SOCKET"] == "1"
        if keepStale, FileManager.default.fileExists(atPath: options.apiSocket) {
            throw CommandLineOptions.UsageError(description: "Error creating API socket: Address in use (os error 98)")
        }
        let channel = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 64)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(APIHandler(vmm: vmm))
                }
            }
            .bind(unixDomainSocketPath: options.apiSocket, cleanupExistingSocketFile: true)
            .wait()
        FileHandle.standardOutput.write(Data("fake-cloud-hypervisor listening on \(options.apiSocket)\n".utf8))
        if vmm.currentState == "Running" {
            vmm.guestBooted()
        }
        try channel.closeFuture.wait()
    }

    var currentState: String? {
        state.withLock { $0.vm }
    }

    /// Called when the guest starts running.
    func guestBooted() {
        if exitAfterBoot {
            FileHandle.standardError.write(Data("fake-cloud-hypervisor: guest crashed (FAKE_CH_EXIT_AFTER_BOOT)\n".utf8))
            exit(1)
        }
    }

    /// How to answer one API call.
    enum Reply {
        case status(HTTPResponseStatus, body: String?)
        case hang
        case exitAfterReply
    }

    func handle(method: HTTPMethod, path: String, body: String) -> Reply {
        record(["method": method.rawValue, "path": path, "body": body])
        let prefix = "/api/v1/"
        guard path.hasPrefix(prefix) else {
            return .status(.notFound, body: "Not found")
        }
        let endpoint = String(path.dropFirst(prefix.count))
        if hanging.contains(endpoint) {
            return .hang
        }
        if failing.contains(endpoint) {
            return .status(.internalServerError, body: "Injected failure (FAKE_CH_FAIL=\(endpoint))")
        }
        let expected: HTTPMethod = ["vmm.ping", "vm.info", "vm.counters"].contains(endpoint) ? .GET : .PUT
        let known = ["vmm.ping", "vm.info", "vm.boot", "vm.shutdown", "vm.delete", "vm.pause", "vm.resume", "vm.reboot",
                     "vm.power-button", "vmm.shutdown"]
        guard known.contains(endpoint) else {
            return .status(.notFound, body: "Not found")
        }
        guard method == expected else {
            return .status(.methodNotAllowed, body: "Method not allowed")
        }
        switch endpoint {
        case "vmm.ping":
            return .status(.ok, body: json(["build_version": "fake", "version": "v48.0-fake", "pid": Int(getpid()),
                                            "features": ["kvm"]]))
        case "vm.info":
            guard let vm = currentState else {
                return .status(.internalServerError, body: "Error from API: The VM could not be found: VM is not created")
            }
            return .status(.ok, body: json(["config": options.vmConfig, "state": vm,
                                            "memory_actual_size": options.memoryBytes, "device_tree": [String: Any]()]))
        case "vmm.shutdown":
            return .exitAfterReply
        default:
            return transition(endpoint)
        }
    }

    private func transition(_ endpoint: String) -> Reply {
        let table: [String: (from: Set<String>, to: String?)] = [
            "vm.boot": (["Created"], "Running"),
            "vm.shutdown": (["Running", "Paused"], "Shutdown"),
            "vm.power-button": (["Running"], "Shutdown"),
            "vm.reboot": (["Running"], "Running"),
            "vm.pause": (["Running"], "Paused"),
            "vm.resume": (["Paused"], "Running"),
            "vm.delete": (["Created", "Running", "Paused", "Shutdown"], nil),
        ]
        guard let rule = table[endpoint] else {
            return .status(.notFound, body: "Not found")
        }
        let outcome: Result<String?, APIFailure> = state.withLock { state in
            guard let vm = state.vm else {
                return endpoint == "vm.delete" ? .success(nil) : .failure(APIFailure(message: "VM is not created"))
            }
            guard rule.from.contains(vm) else {
                return .failure(APIFailure(message: "Invalid state transition from \(vm) (\(endpoint))"))
            }
            state.vm = rule.to
            return .success(rule.to)
        }
        switch outcome {
        case .success(let newState):
            if endpoint == "vm.boot" && newState == "Running" {
                guestBooted()
            }
            return .status(.noContent, body: nil)
        case .failure(let failure):
            return .status(.internalServerError, body: "Error from API: \(failure.message)")
        }
    }

    private func json(_ object: [String: Any]) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    func record(_ object: [String: Any]) {
        recordLock.withLock { _ in
            var line = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
            line.append(UInt8(ascii: "\n"))
            if let handle = FileHandle(forWritingAtPath: recordPath) {
                _ = try? handle.seekToEnd()
                try? handle.write(contentsOf: line)
                try? handle.close()
            } else {
                _ = FileManager.default.createFile(atPath: recordPath, contents: line)
            }
        }
    }

    private static func list(_ value: String?) -> Set<String> {
        Set((value ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
    }
}

/// A refused API call's text.
struct APIFailure: Error {
    var message: String
}

/// One HTTP/1.1 connection of the API: collects a request, asks ``FakeVMM``, answers.
final class APIHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let vmm: FakeVMM
    private var head: HTTPRequestHead?
    private var body = ""

    init(vmm: FakeVMM) {
        self.vmm = vmm
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body = ""
        case .body(let buffer):
            body += String(buffer: buffer)
        case .end:
            guard let head else {
                return
            }
            self.head = nil
            respond(context: context, head: head)
        }
    }

    private func respond(context: ChannelHandlerContext, head: HTTPRequestHead) {
        let path = String(head.uri.split(separator: "?", maxSplits: 1).first ?? "")
        let status: HTTPResponseStatus
        let text: String?
        let exitAfter: Bool
        switch vmm.handle(method: head.method, path: path, body: body) {
        case .hang:
            return
        case .status(let code, let body):
            status = code
            text = body
            exitAfter = false
        case .exitAfterReply:
            status = .noContent
            text = nil
            exitAfter = true
        }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Length", value: "\(text?.utf8.count ?? 0)")
        if text != nil {
            headers.add(name: "Content-Type", value: status == .ok ? "application/json" : "text/plain")
        }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        if let text {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: text)))), promise: nil)
        }
        let socket = vmm.options.apiSocket
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            if exitAfter {
                unlink(socket)
                exit(0)
            }
        }
    }
}
