import Foundation
@testable import NKudoEdge
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("Cloud Hypervisor provider through the fake VMM", .serialized)
struct CloudHypervisorProviderTests {
    @Test("create, start, stop, delete")
    func lifecycle() async throws {
        let sandbox = try CloudHypervisorSandbox()
        let provider = try sandbox.provider()
        let id = try VMID("vm-lifecycle")

        let created = try await provider.create(MicroVMSpec(id: id, name: "web", vcpu: 2, memoryMiB: 512))
        #expect(created.status == .created)
        #expect(created.pid == 0)
        let directory = provider.directory(of: id)
        for file in ["state.json", "disk.raw", "cloud-init.iso", "seed/user-data", "seed/meta-data", "seed/network-config"] {
            #expect(FileManager.default.fileExists(atPath: "\(directory)/\(file)"), "\(file)")
        }
        let metaData = try String(contentsOfFile: "\(directory)/seed/meta-data", encoding: .utf8)
        #expect(metaData == "instance-id: \"vm-lifecycle\"\nlocal-hostname: \"web\"\n")

        let running = try await provider.start(id)
        #expect(running.status == .running)
        #expect(running.pid > 0)
        let argv = try #require(sandbox.launches().first)
        #expect(argv.starts(with: ["--api-socket", "\(directory)/api.sock", "--firmware", "/usr/share/cloud-hypervisor/CLOUDHV.fd"]))
        #expect(argv.contains("boot=2") && argv.contains("size=512M"))
        #expect(argv.contains("path=\(directory)/cloud-init.iso,readonly=on"))
        #expect(!argv.contains("--net"))
        #expect(sandbox.calls().starts(with: ["GET /api/v1/vmm.ping", "GET /api/v1/vm.info"]))

        let again = try await provider.start(id)
        #expect(again.pid == running.pid)
        #expect(sandbox.launches().count == 1)

        let stopped = try await provider.stop(id)
        #expect(stopped.status == .stopped)
        #expect(stopped.pid == 0)
        #expect(sandbox.calls().contains("PUT /api/v1/vm.power-button"), "STOP is graceful first")
        #expect(!sandbox.calls().contains("PUT /api/v1/vm.shutdown"), "the guest powered off on the button")
        #expect(stopped.stateReason.hasPrefix("stopped gracefully (ACPI power button)"), "\(stopped.stateReason)")
        #expect(sandbox.livePIDs().isEmpty)
        let commands = try String(contentsOfFile: "\(directory)/commands.log", encoding: .utf8)
        #expect(commands.contains("--api-socket"))
        #expect(!commands.contains("kill -TERM"))

        try await provider.delete(id)
        #expect(!FileManager.default.fileExists(atPath: directory))
        #expect(try await provider.state(of: id) == nil)
        try await provider.delete(id)
        await #expect(throws: ProviderError.self) { try await provider.start(id) }
    }

    @Test("a kernel boots from its cached copy with the command line and extra arguments")
    func kernelBoot() async throws {
        let sandbox = try CloudHypervisorSandbox()
        let provider = try sandbox.provider()
        try sandbox.image("vmlinux", Data(repeating: 5, count: 2048))
        let cached = try provider.images.cachedCopy(of: .name("vmlinux"), field: "kernel")
        let id = try VMID("vm-kernel")
        _ = try await provider.create(MicroVMSpec(id: id, kernel: .name("vmlinux"), kernelArguments: ["quiet"]))
        _ = try await provider.start(id)
        defer { sandbox.killAll() }
        let argv = try #require(sandbox.launches().first)
        let kernel = try #require(argv.firstIndex(of: "--kernel"))
        #expect(argv[kernel + 1] == cached.path)
        #expect(argv[kernel + 2] == "--cmdline")
        #expect(argv[kernel + 3] == "console=ttyS0 root=/dev/vda1 rw quiet")
        #expect(!argv.contains("--firmware"))
        _ = try await provider.stop(id)
    }

    @Test("the VMM is detached: own session, alive after start returns")
    func detached() async throws {
        let sandbox = try CloudHypervisorSandbox()
        let provider = try sandbox.provider()
        let id = try VMID("vm-detached")
        _ = try await provider.create(MicroVMSpec(id: id))
        let state = try await provider.start(id)
        defer { sandbox.killAll() }
        try await Task.sleep(for: .milliseconds(300))
        #expect(kill(state.pid, 0) == 0)
        #expect(getsid(state.pid) == state.pid)
        #expect(getsid(state.pid) != getsid(0))
        _ = try await provider.stop(id)
    }

    @Test("a new provider on the same runtime dir reconciles: live VMM running, killed VMM stopped")
    func reconcileAfterRestart() async throws {
        let sandbox = try CloudHypervisorSandbox()
        let first = try sandbox.provider()
        let running = try VMID("vm-a")
        let idle = try VMID("vm-b")
        _ = try await first.create(MicroVMSpec(id: running))
        _ = try await first.create(MicroVMSpec(id: idle))
        let started = try await first.start(running)
        defer { sandbox.killAll() }

        let restarted = try sandbox.provider()
        let states = try await restarted.reconcileAll()
        #expect(states.map(\.id) == [running, idle])
        #expect(states[0].status == .running)
        #expect(states[0].pid == started.pid)
        #expect(states[1].status == .created)
        #expect(sandbox.calls().last == "GET /api/v1/vm.info")

        kill(started.pid, SIGKILL)
        #expect(try await eventually { sandbox.livePIDs().isEmpty })
        let after = try await restarted.reconcileAll()
        #expect(after[0].status == .stopped)
        #expect(after[0].pid == 0)
        let persisted = try #require(try VMMetadata.load(from: "\(restarted.directory(of: running))/state.json"))
        #expect(persisted.status == .stopped && persisted.process == nil)
    }

    @Test("a heartbeat's reconciliation during a stop leaves the VMM to the stop, and the stop's reason stands")
    func reconcileDuringStop() async throws {
        let sandbox = try CloudHypervisorSandbox()
        let provider = try sandbox.provider()
        let id = try VMID("vm-stopping")
        _ = try await provider.create(MicroVMSpec(id: id))
        _ = try await provider.start(id)
        defer { sandbox.killAll() }

        let stopping = Task { try await provider.stop(id, gracePeriod: 5) }
        var seenDuringStop: [MicroVMState] = []
        while !sandbox.calls().contains("PUT /api/v1/vm.power-button") {
            try await Task.sleep(for: .milliseconds(5))
        }
        let callsAtButton = sandbox.calls().count
        // The fake guest powers off 200 ms after the button: reconcile all through it.
        let deadline = ContinuousClock.now + .milliseconds(600)
        while ContinuousClock.now < deadline {
            if let state = try await provider.state(of: id) { seenDuringStop.append(state) }
            try await Task.sleep(for: .milliseconds(10))
        }
        let stopped = try await stopping.value

        #expect(!seenDuringStop.isEmpty)
        #expect(Array(sandbox.calls().dropFirst(callsAtButton)).allSatisfy { $0 != "GET /api/v1/vm.info" },
                "no reconciliation talked to the VMM the stop was shutting down: \(sandbox.calls().dropFirst(callsAtButton))")
        #expect(seenDuringStop.allSatisfy { !$0.stateReason.contains("exited") }, "\(seenDuringStop.map(\.stateReason))")
        #expect(stopped.stateReason.hasPrefix("stopped gracefully (ACPI power button)"), "\(stopped.stateReason)")
        let after = try #require(try await provider.state(of: id))
        #expect(after.status == .stopped && after.stateReason == stopped.stateReason, "\(after.stateReason)")
    }

    @Test("a recorded PID with another start time is not the VMM (PID reuse)")
    func pidReuse() async throws {
        let sandbox = try CloudHypervisorSandbox()
        let provider = try sandbox.provider()
        let id = try VMID("vm-reuse")
        _ = try await provider.create(MicroVMSpec(id: id))
        let path = "\(provider.directory(of: id))/state.json"
        var metadata = try #require(try VMMetadata.load(from: path))
        let ownStart = try #require(ProcessControl.startTime(of: getpid()))
        metadata.process = ProcessControl.Identity(pid: getpid(), startTime: ownStart + 1)
        metadata.status = .running
        try metadata.save(to: path)
        let state = try #require(try await provider.state(of: id))
        #expect(state.status == .stopped)
        #expect(state.pid == 0)
    }

    @Test("a stale api socket is removed before start")
    func staleSocket() async throws {
        let sandbox = try CloudHypervisorSandbox()
        let provider = try sandbox.provider(environment: ["FAKE_CH_KEEP_STALE_SOCKET": "1"])
        let id = try VMID("vm-stale")
        _ = try await provider.create(MicroVMSpec(id: id))
        let socket = "\(provider.directory(of: id))/api.sock"
        try "stale".write(toFile: socket, atomically: false, encoding: .utf8)
        defer { sandbox.killAll() }
        let state = try await provider.start(id)
        #expect(state.status == .running)
        #expect(FileOperations.fileType(socket) == .typeSocket)
        _ = try await provider.stop(id)
    }

    @Test("an API failure during start fails the start and kills the VMM")
    func injectedFailure() async throws {
        let sandbox = try CloudHypervisorSandbox()
        let provider = try sandbox.provider(environment: ["FAKE_CH_FAIL": "vm.info"]) { $0.startTimeout = 2 }
        let id = try VMID("vm-fail")
        _ = try await provider.create(MicroVMSpec(id: id))
        let error = await #expect(throws: ProviderError.self) { try await provider.start(id) }
        #expect(error?.message.contains("Injected failure") == true)
        #expect(try await eventually { sandbox.livePIDs().isEmpty })
        #expect(try await provider.state(of: id)?.status == .stopped)
    }

    @Test("a VMM that exits right after boot fails the start")
    func exitAfterBoot() async throws {
        let sandbox = try CloudHypervisorSandbox()
        let provider = try sandbox.provider(environment: ["FAKE_CH_EXIT_AFTER_BOOT": "1"])
        let id = try VMID("vm-crash")
        _ = try await provider.create(MicroVMSpec(id: id))
        let error = await #expect(throws: ProviderError.self) { try await provider.start(id) }
        #expect(error?.message.contains("exited during start") == true)
        #expect(error?.message.contains("guest crashed") == true)
    }

    @Test("a VM left Created by the VMM is booted with vm.boot")
    func bootsCreatedVM() async throws {
        let sandbox = try CloudHypervisorSandbox()
        let provider = try sandbox.provider(environment: ["FAKE_CH_NO_AUTOBOOT": "1"])
        let id = try VMID("vm-boot")
        _ = try await provider.create(MicroVMSpec(id: id))
        defer { sandbox.killAll() }
        #expect(try await provider.start(id).status == .running)
        #expect(sandbox.calls().contains("PUT /api/v1/vm.boot"))
        _ = try await provider.stop(id)
    }

    @Test("stop escalates to SIGTERM and SIGKILL when the API does not stop the VMM")
    func stopEscalates() async throws {
        let sandbox = try CloudHypervisorSandbox()
        let provider = try sandbox.provider(environment: ["FAKE_CH_FAIL": "vm.shutdown,vmm.shutdown", "FAKE_CH_IGNORE_SIGTERM": "1",
                                                          "NKUDO_FAKE_CH_IGNORE_POWER_BUTTON": "1"]) {
            $0.stopTimeout = 0.5
            $0.terminateTimeout = 0.5
        }
        let id = try VMID("vm-stubborn")
        _ = try await provider.create(MicroVMSpec(id: id))
        _ = try await provider.start(id)
        defer { sandbox.killAll() }
        let stopped = try await provider.stop(id, gracePeriod: 0.5)
        #expect(stopped.status == .stopped)
        #expect(stopped.stateReason.hasPrefix("stopped forcibly: the guest did not power off within 0.5 s"), "\(stopped.stateReason)")
        #expect(sandbox.livePIDs().isEmpty)
        let commands = try String(contentsOfFile: "\(provider.directory(of: id))/commands.log", encoding: .utf8)
        #expect(commands.contains("vm.power-button") && commands.contains("kill -TERM") && commands.contains("kill -KILL"))
    }

    @Test("hostile VM ids are rejected", arguments: ["", "../x", "a/b", ".", "..", String(repeating: "a", count: 200), "x;rm -rf /", "/etc", "a b"])
    func hostileIDs(_ text: String) {
        #expect(throws: ProviderError.self) { try VMID(text) }
    }

    @Test("derived TAP names are short, valid and distinct for ids sharing a long prefix")
    func tapNames() throws {
        var names = Set<String>()
        for index in 0..<2000 {
            let name = TAPName.derived(from: try VMID("00000000-0000-4000-8000-\(String(format: "%012d", index))"))
            #expect(name.count == 12 && name.hasPrefix("nk") && name.dropFirst(2).allSatisfy(\.isHexDigit))
            names.insert(name)
        }
        #expect(names.count == 2000)
        #expect(TAPName.mac(for: try VMID("a")).hasPrefix("02:"))
    }

    @Test("start adopts a running VMM of the VM that its metadata does not record, instead of launching a second one")
    func adoptsUnrecordedVMM() async throws {
        let sandbox = try CloudHypervisorSandbox()
        let provider = try sandbox.provider()
        let id = try VMID("vm-unrecorded")
        _ = try await provider.create(MicroVMSpec(id: id))
        let metadata = try #require(try VMMetadata.load(from: provider.directory(of: id) + "/state.json"))
        let orphan = try ProcessControl.spawnDetached(executable: try sandbox.vmmBinary(), arguments: provider.commandLine(metadata),
                                                      logPath: sandbox.root + "/orphan.log")
        defer { sandbox.killAll() }
        // An orphan is a VMM that has been running for a while: wait until it has exec'd and
        // recorded its launch (before that, /proc shows the test's own command line).
        let deadline = ContinuousClock.now + .seconds(10)
        while sandbox.launches().isEmpty && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        try #require(sandbox.launches().count == 1)
        let started = try await provider.start(id)
        #expect(started.status == .running)
        #expect(started.pid == orphan.pid)
        #expect(sandbox.launches().count == 1)
    }
}
