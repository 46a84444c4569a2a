import AsyncHTTPClient
import ControlPlaneTestSupport
import Foundation
import Logging
import NIOHTTP1
import NKudoContract
import NKudoControlPlane
import NKudoEdge
import NKudoPKI
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Issue 11 with the real `nkudo-edge` binary against a real control plane (SQLite and
/// PostgreSQL where the store matters): a long create with two agents, a frozen holder,
/// hostile plans, a lost renewal response, a retired and re-enrolled box, two agents on one
/// box, a clock stepped back.
@Suite("Safety end to end (nkudo-edge)", .serialized)
struct EdgeSafetyEndToEndTests {
    /// A running `nkudo-edge run` of a rig.
    struct RunningAgent {
        let rig: AgentRig
        let launched: (Process, stdout: String, stderr: String)

        var stderr: String { (try? String(contentsOfFile: launched.stderr, encoding: .utf8)) ?? "" }

        func stop() async -> EdgeCLITests.Outcome {
            kill(launched.0.processIdentifier, SIGCONT)
            kill(launched.0.processIdentifier, SIGTERM)
            return await EdgeCLITests.finish(launched)
        }
    }

    /// An ISO tool that records each run in `<rig>/iso-runs` and takes `seconds` (a slow disk).
    static func slowISOTool(_ rig: AgentRig, seconds: Int) throws -> String {
        let path = rig.root + "/slow-genisoimage"
        try "#!/bin/sh\necho \"$$\" >> '\(rig.root)/iso-runs'\nsleep \(seconds)\nexec /usr/bin/genisoimage \"$@\"\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o755)
        return path
    }

    static func isoRuns(_ rig: AgentRig) -> Int {
        ((try? String(contentsOfFile: rig.root + "/iso-runs", encoding: .utf8)) ?? "").split(separator: "\n").count
    }

    static func start(_ rig: AgentRig, extra: [String] = []) throws -> RunningAgent {
        RunningAgent(rig: rig, launched: try EdgeCLITests.launch(["run", "--heartbeat-interval", "1s"] + EdgeCLITests.agentFlags(rig) + extra))
    }

    static func waitOnline(_ fleet: Fleet, count: Int) async throws {
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            let hosts = try await fleet.tenantClient.listHosts(ListHostsRequest(siteId: fleet.site.id)).hosts
            if hosts.filter({ $0.agentState == .online && $0.lastFactsAt != nil }).count >= count { return }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw HarnessError("\(count) agents did not come online")
    }

    static func withRigs(_ backend: ControlPlaneHarness.Backend, hostnames: [String], _ tweak: (inout ControlPlaneConfiguration) -> Void,
                         _ body: (ControlPlaneHarness, Fleet, [AgentRig]) async throws -> Void) async throws {
        let harness = try await ControlPlaneHarness(backend: backend, tweak: tweak)
        var rigs: [AgentRig] = []
        do {
            let fleet = try await Fleet.create(harness)
            for hostname in hostnames {
                rigs.append(try await AgentRig(fleet: fleet, format: .binary, hostname: hostname))
            }
            try await body(harness, fleet, rigs)
        } catch {
            for rig in rigs { await rig.cleanUp() }
            await harness.shutdown()
            throw error
        }
        for rig in rigs { await rig.cleanUp() }
        await harness.shutdown()
    }

    @Test("a create longer than the lease runs once, on one host, with two agents in the site", arguments: ControlPlaneHarness.Backend.enabled)
    func longCreateRunsOnce(backend: ControlPlaneHarness.Backend) async throws {
        // Six heartbeats per lease: the suites run side by side on two cores, and a holder
        // whose heartbeats stall longer than its lease loses the plan by design (the test
        // after this one); this one is about a create three leases long.
        try await Self.withRigs(backend, hostnames: ["edge-a", "edge-b"], {
            $0.heartbeatInterval = .seconds(1)
            $0.planLeaseTTL = .seconds(6)
        }) { harness, fleet, rigs in
            let agents = try rigs.map { try Self.start($0, extra: ["--iso-tool", try Self.slowISOTool($0, seconds: 18)]) }
            try await Self.waitOnline(fleet, count: 2)
            let applied = try await fleet.tenantClient.applyPlan(ApplyPlanRequest(siteId: fleet.site.id, idempotencyKey: "long", actions: [
                .init(operation: .create, name: "long"),
            ]))
            let executions = try await EdgeAgentRunLoopTests.terminal(fleet, applied, seconds: 60)
            #expect(executions.map(\.state) == [.succeeded])
            let vmID = try #require(applied.executions.first?.vmId)
            let runs = rigs.map(Self.isoRuns)
            let created = rigs.filter { FileManager.default.fileExists(atPath: "\($0.root)/vms/\(vmID)") }
            for agent in agents { _ = await agent.stop() }
            #expect(runs.reduce(0, +) == 1, "the create ran \(runs) times on the two hosts")
            #expect(created.count == 1, "the VM exists on \(created.map(\.hostname))")
            let hosts = try await fleet.tenantClient.listHosts(ListHostsRequest(siteId: fleet.site.id)).hosts
            let host = try #require(hosts.first { $0.hostname == created.first?.hostname })
            #expect(executions.first?.hostId == host.id)
            #expect(try await fleet.tenantClient.listMicroVMs(ListMicroVMsRequest(siteId: fleet.site.id)).vms.first { $0.id == vmID }?.hostId == host.id)
        }
    }

    @Test("a holder frozen past its lease loses the plan: the other agent runs it, the stale one's results are refused and it reports nothing")
    func frozenHolderIsFenced() async throws {
        try await Self.withRigs(.sqlite, hostnames: ["edge-a", "edge-b"], {
            $0.heartbeatInterval = .seconds(1)
            $0.planLeaseTTL = .seconds(3)
        }) { harness, fleet, rigs in
            let agents = try rigs.map { try Self.start($0, extra: ["--iso-tool", try Self.slowISOTool($0, seconds: 4)]) }
            try await Self.waitOnline(fleet, count: 2)
            let applied = try await fleet.tenantClient.applyPlan(ApplyPlanRequest(siteId: fleet.site.id, idempotencyKey: "frozen", actions: [
                .init(operation: .create, name: "frozen"),
            ]))
            var holder: Int?
            let deadline = Date().addingTimeInterval(20)
            while holder == nil, Date() < deadline {
                holder = rigs.firstIndex { Self.isoRuns($0) > 0 }
                try await Task.sleep(for: .milliseconds(50))
            }
            let frozen = try #require(holder, "one agent started the create")
            kill(agents[frozen].launched.0.processIdentifier, SIGSTOP)
            let executions = try await EdgeAgentRunLoopTests.terminal(fleet, applied, seconds: 60)
            let other = 1 - frozen
            #expect(executions.map(\.state) == [.succeeded])
            let agentIDs = try rigs.map { try #require(try $0.identityStore.load()).agentID }
            #expect(executions.first?.agentId == agentIDs[other], "the plan ran on the agent that took it over")
            kill(agents[frozen].launched.0.processIdentifier, SIGCONT)
            // The thawed agent finishes or cancels its copy and tries to report: refused.
            let settled = Date().addingTimeInterval(20)
            while Date() < settled, !agents[frozen].stderr.contains("lease lost") {
                try await Task.sleep(for: .milliseconds(200))
            }
            #expect(agents[frozen].stderr.contains("lease lost"), "\(agents[frozen].stderr.suffix(2000))")
            try await Task.sleep(for: .seconds(2))
            let after = try await fleet.tenantClient.getStatus(GetStatusRequest(siteId: fleet.site.id)).recentExecutions.first { $0.id == executions.first?.id }
            #expect(after?.state == .succeeded && after?.agentId == agentIDs[other], "nothing of the stale holder was recorded")
            for agent in agents { _ = await agent.stop() }
        }
    }

    @Test("hostile local plans: paths, symlinks to the agent's key, foreign interfaces and kernel options are refused; nothing is created")
    func hostilePlans() async throws {
        let root = "/tmp/nkhostile-\(UUID().uuidString.prefix(8))"
        for directory in ["pki", "images", "state", "vms"] {
            try FileManager.default.createDirectory(atPath: "\(root)/\(directory)", withIntermediateDirectories: true)
        }
        defer { try? FileManager.default.removeItem(atPath: root) }
        let key = "\(root)/pki/client.key"
        try "-----BEGIN PRIVATE KEY-----\nsecret\n".write(toFile: key, atomically: true, encoding: .utf8)
        chmod(key, 0o600)
        try Data(repeating: 7, count: 8192).write(to: URL(fileURLWithPath: "\(root)/images/good.raw"))
        try Data(repeating: 9, count: 4096).write(to: URL(fileURLWithPath: "\(root)/images/vmlinux"))
        symlink(key, "\(root)/images/key.raw")
        symlink("/etc/passwd", "\(root)/images/passwd")
        let flags = ["--pki-dir", "\(root)/pki", "--state-dir", "\(root)/state", "--runtime-dir", "\(root)/vms", "--image-dir", "\(root)/images",
                     "--image-cache-dir", "\(root)/image-cache", "--cloud-hypervisor-bin", try AgentRig.fakeVMM(), "--network", "none",
                     "--log-level", "error"]
        let hostile: [(String, String, String)] = [
            ("rootfs-key-path", #""rootfs_path": "\#(key)""#, "is a path"),
            ("rootfs-dotdot", #""rootfs_path": "../pki/client.key""#, "is a path"),
            ("rootfs-symlink-key", #""rootfs_path": "key.raw""#, "leads outside the image directory"),
            ("kernel-passwd", #""kernel_path": "/etc/passwd""#, "is a path"),
            ("kernel-symlink", #""kernel_path": "passwd""#, "leads outside the image directory"),
            ("kernel-init", #""kernel_path": "vmlinux", "extra_args": ["console=ttyS0", "init=/bin/sh"]"#, "init is not an allowed key"),
            ("kernel-inject", #""kernel_path": "vmlinux", "extra_args": ["quiet panic=1 init=/x"]"#, "is refused"),
            ("tap-lo", #""tap_iface": "lo""#, "tap_iface \"lo\" is refused"),
            ("tap-eth0", #""tap_iface": "eth0""#, "tap_iface \"eth0\" is refused"),
        ]
        for (index, (name, params, reason)) in hostile.enumerated() {
            let vm = "vm-\(name)"
            let plan = #"{"execution_id": "exec-\#(index)", "actions": [{"type": "MicroVMCreate", "params": {"vm_id": "\#(vm)", \#(params)}}]}"#
            try plan.write(toFile: "\(root)/plan-\(index).json", atomically: true, encoding: .utf8)
            let outcome = try await EdgeCLITests.run(["apply", "--plan", "\(root)/plan-\(index).json"] + flags)
            #expect(outcome.status == 1, "\(name): \(outcome.stdout)")
            let result = try ReportExecutionResultRequest(jsonString: outcome.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
            #expect(result.results.first?.ok == false && result.results.first?.errorCode == "INVALID_PARAMS", "\(name): \(outcome.stdout)")
            #expect(result.results.first?.message.contains(reason) == true, "\(name): \(result.results.first?.message ?? "")")
            #expect(!FileManager.default.fileExists(atPath: "\(root)/vms/\(vm)"), "\(name): nothing is created")
        }
        let cached = (try? FileManager.default.contentsOfDirectory(atPath: "\(root)/image-cache")) ?? []
        #expect(cached.isEmpty, "nothing of the host reached the image cache: \(cached)")

        // A good plan: a named image, a hostile VM name that stays one cloud-init value.
        let good = #"{"execution_id": "exec-good", "actions": [{"type": "MicroVMCreate", "params": {"vm_id": "vm-good", "name": "web\nruncmd: [reboot]", "rootfs_path": "good.raw"}}]}"#
        try good.write(toFile: "\(root)/good.json", atomically: true, encoding: .utf8)
        let outcome = try await EdgeCLITests.run(["apply", "--plan", "\(root)/good.json"] + flags)
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let disk = "\(root)/vms/vm-good/disk.raw"
        #expect(FileManager.default.contents(atPath: disk) == Data(repeating: 7, count: 8192))
        #expect(try FileManager.default.attributesOfItem(atPath: disk)[.posixPermissions] as? Int == 0o600)
        for entry in try FileManager.default.contentsOfDirectory(atPath: "\(root)/image-cache") {
            #expect(try FileManager.default.attributesOfItem(atPath: "\(root)/image-cache/\(entry)")[.posixPermissions] as? Int == 0o600)
        }
        let meta = try String(contentsOfFile: "\(root)/vms/vm-good/seed/meta-data", encoding: .utf8)
        #expect(meta == "instance-id: \"vm-good\"\nlocal-hostname: \"web\\nruncmd: [reboot]\"\n")
    }

    @Test("a renewal whose response was lost: the agent renews again with its old credentials and keeps heartbeating")
    func lostRenewalResponse() async throws {
        try await Self.withRigs(.sqlite, hostnames: ["renew"], {
            $0.heartbeatInterval = .seconds(1)
            $0.agentCertificateTTL = .seconds(8)
        }) { harness, fleet, rigs in
            let rig = rigs[0]
            let enrolled = try #require(try rig.identityStore.load())
            // The agent's first renewal (due at about 2/3 of the lifetime): its response never comes back.
            let client = try harness.client(certificatePEM: enrolled.certificatePEM, keyPEM: enrolled.privateKeyPEM)
            let csr = try CertificateSigningRequest.create(key: try PrivateKey(pem: enrolled.privateKeyPEM), commonName: "x").pem()
            _ = try await AgentServiceClient(transport: TestTransport(harness: harness, client: client, format: .binary))
                .renewCertificate(RenewCertificateRequest(csrPem: csr))
            let agent = try Self.start(rig)
            try await Task.sleep(for: .seconds(12))
            let renewed = try #require(try rig.identityStore.load())
            let host = try #require(try await fleet.tenantClient.listHosts(ListHostsRequest(siteId: fleet.site.id)).hosts.first)
            let outcome = await agent.stop()
            #expect(renewed.certificatePEM != enrolled.certificatePEM, "the agent renewed: \(outcome.stderr.suffix(2000))")
            #expect(host.agentState == .online)
            #expect((host.agentLastHeartbeatAt?.date ?? .distantPast) > enrolled.certificateExpiresAt,
                    "heartbeats go on after the enrolled certificate expired: \(outcome.stderr.suffix(2000))")
            #expect(!outcome.stderr.contains("401"), "\(outcome.stderr.suffix(2000))")
        }
    }

    @Test("a retired host's agent is refused; the box enrolls again under its name with enroll --force", arguments: ControlPlaneHarness.Backend.enabled)
    func retireAndReenroll(backend: ControlPlaneHarness.Backend) async throws {
        try await Self.withRigs(backend, hostnames: ["box-1"], { _ in }) { harness, fleet, rigs in
            let rig = rigs[0]
            #expect(try await EdgeCLITests.run(["verify-heartbeat"] + EdgeCLITests.agentFlags(rig)).status == 0)
            let host = try #require(try await fleet.tenantClient.listHosts(ListHostsRequest(siteId: fleet.site.id)).hosts.first)
            _ = try await fleet.tenantClient.retireHost(RetireHostRequest(siteId: fleet.site.id, hostId: host.id))
            let refused = try await EdgeCLITests.run(["verify-heartbeat"] + EdgeCLITests.agentFlags(rig))
            #expect(refused.status == 1)
            #expect(refused.stderr.contains("agent retired"), "\(refused.stderr)")
            #expect(try await fleet.tenantClient.listHosts(ListHostsRequest(siteId: fleet.site.id)).hosts.isEmpty)

            let token = try await fleet.tenantClient.issueEnrollmentToken(IssueEnrollmentTokenRequest(tenantId: fleet.tenant.id, siteId: fleet.site.id))
            try token.token.write(toFile: rig.root + "/token", atomically: true, encoding: .utf8)
            let enroll = ["enroll", "--control-plane", harness.baseURL, "--token-file", rig.root + "/token", "--ca-fingerprint",
                          "sha256:" + token.caFingerprintSha256, "--hostname", "box-1", "--pki-dir", rig.root + "/pki", "--log-level", "error"]
            let without = try await EdgeCLITests.run(enroll)
            #expect(without.status == 1, "an identity is there: --force is needed")
            let forced = try await EdgeCLITests.run(enroll + ["--force"])
            #expect(forced.status == 0, "\(forced.stderr)")
            #expect(try await EdgeCLITests.run(["verify-heartbeat"] + EdgeCLITests.agentFlags(rig)).status == 0)
            let hosts = try await fleet.tenantClient.listHosts(ListHostsRequest(siteId: fleet.site.id)).hosts
            #expect(hosts.map(\.hostname) == ["box-1"] && hosts.first?.id != host.id && hosts.first?.agentState == .online)
        }
    }

    @Test("two agents enrolled as edge-a and edge-b on one box keep their names; the OS host name is reported beside them")
    func enrolledNamesStay() async throws {
        try await Self.withRigs(.sqlite, hostnames: ["edge-a", "edge-b"], { _ in }) { harness, fleet, rigs in
            for rig in rigs + rigs {
                let outcome = try await EdgeCLITests.run(["verify-heartbeat"] + EdgeCLITests.agentFlags(rig))
                #expect(outcome.status == 0, "\(outcome.stderr)")
            }
            let hosts = try await fleet.tenantClient.listHosts(ListHostsRequest(siteId: fleet.site.id)).hosts
            #expect(hosts.map(\.hostname) == ["edge-a", "edge-b"])
            #expect(hosts.allSatisfy { $0.osHostname == ProcessInfo.processInfo.hostName && $0.agentState == .online })
        }
    }

    @Test("heartbeat numbers survive a clock stepped back: the agent's facts still count",
          .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/faketime"), "needs faketime (scripts/setup installs it)"))
    func clockStepBack() async throws {
        try await Self.withRigs(.sqlite, hostnames: ["clock"], { _ in }) { harness, fleet, rigs in
            let rig = rigs[0]
            #expect(try await EdgeCLITests.run(["verify-heartbeat"] + EdgeCLITests.agentFlags(rig)).status == 0)
            let before = try #require(try await fleet.tenantClient.listHosts(ListHostsRequest(siteId: fleet.site.id)).hosts.first?.lastFactsAt?.date)
            try await Task.sleep(for: .milliseconds(1100))
            let binary = EdgeCLITests.binary
            let stepped = try await EdgeCLITests.runProgram("/usr/bin/faketime", ["-f", "-40s", binary, "verify-heartbeat"] + EdgeCLITests.agentFlags(rig))
            #expect(stepped.status == 0, "\(stepped.stderr)")
            let after = try #require(try await fleet.tenantClient.listHosts(ListHostsRequest(siteId: fleet.site.id)).hosts.first?.lastFactsAt?.date)
            #expect(after > before, "a heartbeat sent with the clock 40 s behind is not stale")
            let state = try await EdgeStateStore.open(directory: rig.root + "/state", logger: Logger(label: "test"))
            #expect(try await state.heartbeatSequenceCeiling() != nil)
            await state.close()
        }
    }
}
