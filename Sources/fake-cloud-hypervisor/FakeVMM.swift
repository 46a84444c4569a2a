import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// The fake VMM: VM state, fault injection and call recording.
///
/// Its answers keep to Cloud Hypervisor's OpenAPI document
/// (`Tests/NKudoEdgeTests/Fixtures/cloud-hypervisor-openapi.yaml`): only statuses the
/// operation declares, a body only where the response declares content. The reason of a
/// refusal, which Cloud Hypervisor puts in the body, goes to stderr (the VMM log).
/// Deliberately outside the document: injected failures (`FAKE_CH_FAIL`) and the 404 and
/// 405 of paths and methods the fake does not serve.
///
/// The guest obeys the power button: shortly after `vm.power-button` it writes
/// `reboot: Power down` to the serial console and the VMM exits with status 0, as Cloud
/// Hypervisor does when its guest shuts down.
///
/// Environment:
/// - `FAKE_CH_RECORD`: file the calls are appended to as JSON lines
///   (`{"method","path","body"}`; the first line is `{"argv":[…]}`); default `<socket>.calls`.
/// - `NKUDO_FAKE_CH_CAPTURE`: file every exchange (request and response) is appended to,
///   for `scripts/check-ch-openapi` (see ``ExchangeCapture``); none by default.
/// - `FAKE_CH_FAIL`: comma-separated endpoints (`vm.boot`, `vmm.ping`, …) answered 500.
/// - `FAKE_CH_HANG`: comma-separated endpoints never answered.
/// - `FAKE_CH_EXIT_AFTER_BOOT=1`: exit with status 1 as soon as the guest runs.
/// - `FAKE_CH_NO_AUTOBOOT=1`: leave a VM with a payload `Created` until `vm.boot`.
/// - `FAKE_CH_KEEP_STALE_SOCKET=1`: fail like the real binary when the socket path exists.
/// - `FAKE_CH_IGNORE_SIGTERM=1`: ignore SIGTERM (so only SIGKILL stops it).
/// - `NKUDO_FAKE_CH_IGNORE_POWER_BUTTON=1`: a guest that ignores the power button
///   (`vm.power-button` is accepted, nothing happens).
final class FakeVMM: Sendable {
    private struct State {
        var vm: String?
    }

    let options: CommandLineOptions
    let failing: Set<String>
    let hanging: Set<String>
    let exitAfterBoot: Bool
    let ignoresPowerButton: Bool
    let recordPath: String
    let capture: ExchangeCapture?
    let console: SerialConsole
    private let state: Mutex<State>
    private let recordLock = Mutex(())

    /// How long the fake guest takes to power off after the power button.
    static let powerOffDelay = TimeAmount.milliseconds(200)

    init(options: CommandLineOptions, environment: [String: String]) {
        self.options = options
        failing = Self.list(environment["FAKE_CH_FAIL"])
        hanging = Self.list(environment["FAKE_CH_HANG"])
        exitAfterBoot = environment["FAKE_CH_EXIT_AFTER_BOOT"] == "1"
        ignoresPowerButton = environment["NKUDO_FAKE_CH_IGNORE_POWER_BUTTON"] == "1"
        recordPath = environment["FAKE_CH_RECORD"] ?? "\(options.apiSocket).calls"
        capture = environment["NKUDO_FAKE_CH_CAPTURE"].flatMap { $0.isEmpty ? nil : ExchangeCapture(path: $0) }
        console = SerialConsole(serial: options.serial)
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
        vmm.console.create()
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

    /// Called when the guest starts running: it prints its boot lines on the console.
    func guestBooted() {
        console.append(SerialConsole.bootLines)
        if exitAfterBoot {
            FileHandle.standardError.write(Data("fake-cloud-hypervisor: guest crashed (FAKE_CH_EXIT_AFTER_BOOT)\n".utf8))
            exit(1)
        }
    }

    /// The VMM exits with status 0, removing its API socket (`vmm.shutdown`, guest power-off).
    func exitVMM() -> Never {
        unlink(options.apiSocket)
        exit(0)
    }

    /// How to answer one API call.
    enum Reply {
        case status(HTTPResponseStatus, body: String?)
        case hang
        case exitAfterReply
    }

    /// The operations the fake serves, with their methods.
    private static let methods: [String: HTTPMethod] = [
        "vmm.ping": .GET, "vm.info": .GET, "vmm.shutdown": .PUT, "vm.boot": .PUT, "vm.shutdown": .PUT,
        "vm.power-button": .PUT, "vm.reboot": .PUT, "vm.pause": .PUT, "vm.resume": .PUT, "vm.delete": .PUT,
    ]

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
        guard let expected = Self.methods[endpoint] else {
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
                return refuse(.notFound, endpoint, "The VM could not be found: VM is not created")
            }
            return .status(.ok, body: json(["config": options.vmConfig, "state": vm,
                                            "memory_actual_size": options.memoryBytes, "device_tree": [String: Any]()]))
        case "vm.delete":
            // The document declares only 204: it succeeds in every state, also without a VM.
            state.withLock { $0.vm = nil }
            return .status(.noContent, body: nil)
        case "vmm.shutdown":
            return .exitAfterReply
        default:
            return transition(endpoint)
        }
    }

    /// A VM action: the states it applies in, the state it leaves, and the status the
    /// document declares for a VM in another state.
    private struct Transition {
        var from: Set<String>
        var to: String
        var refused: HTTPResponseStatus
    }

    private static let transitions: [String: Transition] = [
        // The document declares no 405 for vm.boot: a VM already booted gets its 404.
        "vm.boot": Transition(from: ["Created"], to: "Running", refused: .notFound),
        "vm.shutdown": Transition(from: ["Running", "Paused"], to: "Shutdown", refused: .methodNotAllowed),
        // The guest powers off a moment later (``powerButtonPressed()``).
        "vm.power-button": Transition(from: ["Running"], to: "Running", refused: .methodNotAllowed),
        "vm.reboot": Transition(from: ["Running"], to: "Running", refused: .methodNotAllowed),
        "vm.pause": Transition(from: ["Running"], to: "Paused", refused: .methodNotAllowed),
        "vm.resume": Transition(from: ["Paused"], to: "Running", refused: .methodNotAllowed),
    ]

    private func transition(_ endpoint: String) -> Reply {
        guard let rule = Self.transitions[endpoint] else {
            return .status(.notFound, body: "Not found")
        }
        let outcome: Result<Void, APIFailure> = state.withLock { state in
            guard let vm = state.vm else {
                return .failure(APIFailure(status: .notFound, message: "VM is not created"))
            }
            guard rule.from.contains(vm) else {
                return .failure(APIFailure(status: rule.refused, message: "Invalid state transition from \(vm) (\(endpoint))"))
            }
            state.vm = rule.to
            return .success(())
        }
        switch outcome {
        case .success:
            if endpoint == "vm.boot" {
                guestBooted()
            }
            if endpoint == "vm.power-button" {
                powerButtonPressed()
            }
            return .status(.noContent, body: nil)
        case .failure(let failure):
            return refuse(failure.status, endpoint, failure.message)
        }
    }

    /// The guest's answer to the power button: it powers off after ``powerOffDelay``,
    /// unless it ignores the button.
    private func powerButtonPressed() {
        guard !ignoresPowerButton else {
            FileHandle.standardError.write(Data("fake-cloud-hypervisor: guest ignores the power button (NKUDO_FAKE_CH_IGNORE_POWER_BUTTON)\n".utf8))
            return
        }
        MultiThreadedEventLoopGroup.singleton.next().scheduleTask(in: Self.powerOffDelay) {
            self.console.append([SerialConsole.powerDownLine])
            self.exitVMM()
        }
    }

    /// A refusal with `status`, without a body (the document declares none); the reason
    /// goes to stderr.
    private func refuse(_ status: HTTPResponseStatus, _ endpoint: String, _ reason: String) -> Reply {
        FileHandle.standardError.write(Data("fake-cloud-hypervisor: \(endpoint): \(status.code) \(reason)\n".utf8))
        return .status(status, body: nil)
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

/// A refused API call: the status the document declares for it and the reason.
struct APIFailure: Error {
    var status: HTTPResponseStatus
    var message: String
}
