import ControlPlaneTestSupport
import Foundation
import NKudoContract
import NKudoControlPlane
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A real Linux guest through the API: the control plane, the real `nkudo-edge run
/// --hypervisor qemu` (TCG: nested KVM is too slow on these machines) and the test guest
/// of `scripts/build-test-guest`. The agent runs in a network namespace with a bridge, so
/// the guest's TAP is on it and the test pings the guest; a socat relay brings the control
/// plane's port into the namespace. Every assertion reads what the guest itself printed
/// on its serial console, through `GET /sites/{id}/vms/{id}/console`.
@Suite("A real guest through the API", .serialized)
struct RealGuestEndToEndTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    static let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKnkudoEndToEndTestKey000000000000000000 e2e@nkudo"
    static let kernelArguments = ["console=ttyS0", "panic=-1", "ip=10.99.0.2::10.99.0.1:255.255.255.0::eth0:off"]
    /// QEMU's accelerator: `NKUDO_TEST_ACCEL=kvm` on hosts with fast KVM; TCG by default (these
    /// CI machines are nested microVMs, where a KVM guest does not boot in minutes).
    static let accelerator = ProcessInfo.processInfo.environment["NKUDO_TEST_ACCEL"] == "kvm" ? "kvm" : "tcg"

    /// The network namespace, the relays and the agent process of one test.
    final class Sandbox: @unchecked Sendable {
        let namespace = "nkt-\(UUID().uuidString.prefix(8).lowercased())"
        var relays: [Process] = []
        var agent: Process?
        /// The agents' stderr files, printed when the test ends.
        var agentLogs: [String] = []
        let rig: AgentRig

        init(rig: AgentRig, port: Int) throws {
            self.rig = rig
            try Self.sh("ip netns add \(namespace)")
            try Self.sh("""
                ip -n \(namespace) link set lo up && ip -n \(namespace) link add br0 type bridge && \
                ip -n \(namespace) addr add 10.99.0.1/24 dev br0 && ip -n \(namespace) link set br0 up
                """)
            let socket = rig.root + "/control-plane.sock"
            relays.append(try Self.start("/usr/bin/socat", ["UNIX-LISTEN:\(socket),fork", "TCP:127.0.0.1:\(port)"]))
            Thread.sleep(forTimeInterval: 0.3)
            relays.append(try Self.start("/usr/sbin/ip", ["netns", "exec", namespace, "socat",
                                                           "TCP-LISTEN:\(port),bind=127.0.0.1,fork,reuseaddr", "UNIX-CONNECT:\(socket)"]))
        }

        /// Starts `nkudo-edge run --hypervisor qemu --accel tcg` in the namespace.
        func startAgent() throws {
            let flags = ["--pki-dir", rig.root + "/pki", "--state-dir", rig.root + "/state", "--runtime-dir", rig.root + "/vms",
                         "--image-dir", rig.root + "/images", "--image-cache-dir", rig.root + "/image-cache",
                         "--hypervisor", "qemu", "--accel", RealGuestEndToEndTests.accelerator, "--bridge", "br0", "--network", "tap",
                         "--heartbeat-interval", "1s", "--netbird-enabled", "false", "--log-level", "warning"]
            let launched = try EdgeCLITests.launch(["netns", "exec", namespace, EdgeCLITests.binary, "run"] + flags, executable: "/usr/sbin/ip")
            agent = launched.0
            agentLogs.append(launched.stderr)
        }

        /// kill -9 of the agent (`ip netns exec` execs it: same process).
        func killAgent() {
            if let agent {
                kill(agent.processIdentifier, SIGKILL)
                Self.awaitExit(agent)
            }
            agent = nil
        }

        /// Waits up to 5 s for `process` to be gone (Foundation's `waitUntilExit` can spin
        /// forever on a child killed by a signal).
        static func awaitExit(_ process: Process) {
            for _ in 0..<50 where process.isRunning {
                Thread.sleep(forTimeInterval: 0.1)
            }
        }

        func tearDown() {
            killAgent()
            for log in agentLogs {
                let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
                if !text.isEmpty { print("agent stderr:\n\(text.suffix(4000))") }
            }
            _ = try? Self.sh("pkill -KILL -f '^qemu-system.*\(rig.root)' || true")
            for relay in relays {
                kill(relay.processIdentifier, SIGKILL)
                Self.awaitExit(relay)
            }
            _ = try? Self.sh("ip netns del \(namespace)")
        }

        static func start(_ executable: String, _ arguments: [String]) throws -> Process {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            return process
        }

        /// Runs `command` with `sh -c`; its stdout, throwing on a non-zero exit.
        @discardableResult
        static func sh(_ command: String) throws -> String {
            let process = Process()
            let output = Pipe()
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", command]
            process.standardOutput = output
            process.standardError = output
            try process.run()
            let data = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            let text = String(decoding: data, as: UTF8.self)
            guard process.terminationStatus == 0 else {
                throw CommandError(description: "\(command): exit \(process.terminationStatus): \(text)")
            }
            return text
        }

        struct CommandError: Error, CustomStringConvertible {
            let description: String
        }
    }

    /// Polls `condition` every 250 ms for up to `seconds`; its last value.
    static func eventually<T>(_ seconds: Double, _ condition: () async throws -> T?) async throws -> T? {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let value = try await condition() { return value }
            try await Task.sleep(for: .milliseconds(250))
        }
        return try await condition()
    }

    static func vm(_ fleet: Fleet, _ id: String) async throws -> MicroVM? {
        try await fleet.tenantClient.listMicroVMs(ListMicroVMsRequest(siteId: fleet.site.id)).vms.first { $0.id == id }
    }

    static func console(_ fleet: Fleet, _ id: String) async throws -> String {
        try await fleet.tenantClient.getMicroVMConsole(GetMicroVMConsoleRequest(siteId: fleet.site.id, vmId: id)).console
            .replacingOccurrences(of: "\r", with: "")
    }

    /// The QEMU processes of VM `id`.
    static func qemuProcesses(_ id: String) throws -> Int {
        Int(try Sandbox.sh("pgrep -c -f '^qemu-system.*nkudo-\(id)' || true").trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
    }

    @Test("a tenant boots a real guest through the API; it survives kill -9 of the agent, stops gracefully, a panic is FAILED, delete leaves nothing")
    func realGuest() async throws {
        let guest = Self.root + "/.build/test-guest"
        try Sandbox.sh("\(Self.root)/scripts/build-test-guest --out \(guest)")
        try await AgentRig.with(format: .binary, { $0.heartbeatInterval = .seconds(1) }) { harness, fleet, rig in
            try FileManager.default.createDirectory(atPath: rig.root + "/images", withIntermediateDirectories: true)
            for name in ["nkudo-test-vmlinuz", "nkudo-test-initrd.img", "nkudo-test-disk.raw"] {
                try FileManager.default.copyItem(atPath: "\(guest)/\(name)", toPath: "\(rig.root)/images/\(name)")
            }
            let port = try #require(URL(string: harness.baseURL)?.port)
            let sandbox = try Sandbox(rig: rig, port: port)
            defer { sandbox.tearDown() }
            try sandbox.startAgent()

            let catalog = try await Self.eventually(60) {
                let hosts = try await fleet.tenantClient.listSiteImages(ListSiteImagesRequest(siteId: fleet.site.id)).hosts
                return hosts.first { $0.agentState == .online && $0.images.count == 3 }
            }
            #expect(catalog?.images.map(\.kind) == [.disk, .initrd, .kernel], "the agent reports its images")
            let host = try await fleet.tenantClient.listHosts(ListHostsRequest(siteId: fleet.site.id)).hosts.first
            #expect(host?.hypervisor == "qemu" && host?.hypervisors.contains("qemu") == true)

            // CREATE + START through the API: image, kernel, initrd, kernel args and key by name.
            let vmID = UUID().uuidString.lowercased()
            let applied = Date()
            _ = try await fleet.tenantClient.applyPlan(ApplyPlanRequest(siteId: fleet.site.id, idempotencyKey: "boot", actions: [
                .init(operation: .create, vmId: vmID, name: "guest", vcpuCount: 1, memoryMib: 256, image: "nkudo-test-disk.raw",
                      kernel: "nkudo-test-vmlinuz", initrd: "nkudo-test-initrd.img", kernelArgs: Self.kernelArguments,
                      sshAuthorizedKeys: [Self.key]),
                .init(operation: .start, vmId: vmID),
            ]))
            let booted = try await Self.eventually(120) { () async throws -> String? in
                let console = try await Self.console(fleet, vmID)
                return console.contains("nkudo-guest-ready") ? console : nil
            }
            let bootSeconds = Date().timeIntervalSince(applied)
            let started = Date()
            let console = try #require(booted, "the guest's console never showed nkudo-guest-ready")
            print("real guest (\(Self.accelerator)): CREATE applied → boot marker on the console route in \(String(format: "%.1f", bootSeconds)) s")
            #expect(console.contains("NKUDO-GUEST-BOOTED"))
            #expect(console.contains("nkudo-instance-id: \(vmID)"), "the seed reached the guest")
            #expect(console.contains("nkudo-ssh-key: \(Self.key)"), "the key reached the guest")
            #expect(console.contains("nkudo-disk: NKUDO-TEST-DISK v1"), "the disk is a copy of the image")
            #expect(console.contains("nkudo-net: eth0 10.99.0.2"), "the kernel args reached the guest")
            #expect(try await Self.vm(fleet, vmID)?.state == .running)
            try Sandbox.sh("ip netns exec \(sandbox.namespace) busybox ping -c 3 -W 2 10.99.0.2")

            // kill -9 of the agent: the guest runs on; the restarted agent adopts it.
            sandbox.killAgent()
            #expect(try Self.qemuProcesses(vmID) == 1)
            try sandbox.startAgent()
            let adopted = try await Self.eventually(30) {
                try await fleet.tenantClient.listHosts(ListHostsRequest(siteId: fleet.site.id)).hosts.first?.agentState == .online ? true : nil
            }
            #expect(adopted == true)
            try Sandbox.sh("ip netns exec \(sandbox.namespace) busybox ping -c 1 -W 2 10.99.0.2")
            #expect(try await Self.vm(fleet, vmID)?.state == .running)
            #expect(try Self.qemuProcesses(vmID) == 1, "no second VMM")

            // STOP is graceful: the guest powers off on the ACPI power button.
            _ = try await fleet.tenantClient.applyPlan(ApplyPlanRequest(siteId: fleet.site.id, idempotencyKey: "stop", actions: [
                .init(operation: .stop, vmId: vmID),
            ]))
            // The result moves the VM; the agent's next heartbeat gives the reason and the console.
            let stopped = try await Self.eventually(60) { () async throws -> MicroVM? in
                let vm = try await Self.vm(fleet, vmID)
                return vm?.state == .stopped && vm?.stateReason.isEmpty == false ? vm : nil
            }
            #expect(stopped?.stateReason.contains("gracefully") == true, "\(stopped?.stateReason ?? "not stopped")")
            let poweredOff = try await Self.eventually(10) {
                try await Self.console(fleet, vmID).contains("nkudo-guest-poweroff") ? true : nil
            }
            #expect(poweredOff == true, "the guest powered off on the ACPI power button")
            #expect(try Self.qemuProcesses(vmID) == 0)

            // A guest whose init panics ends FAILED with the panic as its reason.
            let panicID = UUID().uuidString.lowercased()
            _ = try await fleet.tenantClient.applyPlan(ApplyPlanRequest(siteId: fleet.site.id, idempotencyKey: "panic", actions: [
                .init(operation: .create, vmId: panicID, name: "panics", vcpuCount: 1, memoryMib: 256, image: "nkudo-test-disk.raw",
                      kernel: "nkudo-test-vmlinuz", initrd: "nkudo-test-initrd.img", kernelArgs: Self.kernelArguments,
                      userData: "#cloud-config\nnkudo-test: panic\n"),
                .init(operation: .start, vmId: panicID),
            ]))
            let failed = try await Self.eventually(120) { () async throws -> MicroVM? in
                let vm = try await Self.vm(fleet, panicID)
                return vm?.state == .failed ? vm : nil
            }
            #expect(failed?.stateReason.contains("panic") == true, "\(failed?.stateReason ?? "not failed")")

            // DELETE removes every file, TAP and process.
            _ = try await fleet.tenantClient.applyPlan(ApplyPlanRequest(siteId: fleet.site.id, idempotencyKey: "delete", actions: [
                .init(operation: .delete, vmId: vmID), .init(operation: .delete, vmId: panicID),
            ]))
            let deleted = try await Self.eventually(60) {
                let states = [try await Self.vm(fleet, vmID)?.state, try await Self.vm(fleet, panicID)?.state]
                return states.allSatisfy { $0 == .deleted } ? true : nil
            }
            #expect(deleted == true)
            #expect(((try? FileManager.default.contentsOfDirectory(atPath: rig.root + "/vms")) ?? []).isEmpty)
            #expect(!(try Sandbox.sh("ip -n \(sandbox.namespace) -o link show")).contains(": nk"), "no TAP device left")
            #expect(try Self.qemuProcesses(vmID) + Self.qemuProcesses(panicID) == 0)
            print("real guest: boot, ping, kill -9 and adoption, graceful stop, panic, delete in \(String(format: "%.1f", Date().timeIntervalSince(started))) s after the boot")
        }
    }
}
