import ControlPlaneTestSupport
import Foundation
import NKudoContract
import NKudoControlPlane
import NKudoEdge
import Testing

@Suite("Edge agent run loop against the control plane", .serialized)
struct EdgeAgentRunLoopTests {
    /// Waits until every execution of `plan` is terminal; returns them.
    static func terminal(_ fleet: Fleet, _ applied: ApplyPlanResponse, seconds: Double = 60) async throws -> [Execution] {
        let ids = Set(applied.executions.map(\.id))
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let status = try await fleet.tenantClient.getStatus(GetStatusRequest(siteId: fleet.site.id))
            let executions = status.recentExecutions.filter { ids.contains($0.id) }
            if executions.count == ids.count, executions.allSatisfy({ [.succeeded, .failed, .cancelled].contains($0.state) }) {
                return executions
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw HarnessError("executions of plan \(applied.planId) not terminal within \(seconds) s")
    }

    static func vmState(_ fleet: Fleet, _ id: String) async throws -> MicroVM.State? {
        try await fleet.tenantClient.listMicroVMs(ListMicroVMsRequest(siteId: fleet.site.id)).vms.first { $0.id == id }?.state
    }

    @Test("create, start, stop and delete a VM through heartbeats, with results, logs and host state, over REST, Connect and gRPC",
          arguments: [(WireFormat.binary, ControlPlaneProtocol.rest), (.json, .rest), (.binary, .connect), (.json, .connect), (.binary, .grpc)])
    func lifecycle(format: WireFormat, transport: ControlPlaneProtocol) async throws {
        try await AgentRig.with(format: format, transport: transport, { $0.heartbeatInterval = .seconds(1) }) { harness, fleet, rig in
            try rig.start()
            let created = try await fleet.tenantClient.applyPlan(ApplyPlanRequest(siteId: fleet.site.id, idempotencyKey: "up", actions: [
                .init(operation: .create, name: "web", vcpuCount: 2, memoryMib: 256),
            ]))
            let vmID = try #require(created.executions.first?.vmId)
            #expect(try await Self.terminal(fleet, created).map(\.state) == [.succeeded])
            let started = try await fleet.tenantClient.applyPlan(ApplyPlanRequest(siteId: fleet.site.id, idempotencyKey: "start", actions: [
                .init(operation: .start, vmId: vmID),
            ]))
            #expect(try await Self.terminal(fleet, started).map(\.state) == [.succeeded])
            #expect(try await Self.vmState(fleet, vmID) == .running)
            let vm = try #require(try await fleet.tenantClient.listMicroVMs(ListMicroVMsRequest(siteId: fleet.site.id)).vms.first { $0.id == vmID })
            #expect(vm.vcpuCount == 2 && vm.memoryMib == 256, "heartbeats report the VM's real size")
            let down = try await fleet.tenantClient.applyPlan(ApplyPlanRequest(siteId: fleet.site.id, idempotencyKey: "down", actions: [
                .init(operation: .stop, vmId: vmID), .init(operation: .delete, vmId: vmID),
            ]))
            #expect(try await Self.terminal(fleet, down).map(\.state) == [.succeeded, .succeeded])
            let logs = try await fleet.tenantClient.listExecutionLogs(ListExecutionLogsRequest(executionId: down.executions[0].id, limit: 50))
            #expect(logs.logs.contains { $0.message.hasPrefix("action completed: stopped") }, "log lines are shipped: \(logs.logs.map(\.message))")
            let status = try await fleet.tenantClient.getStatus(GetStatusRequest(siteId: fleet.site.id))
            #expect(status.hosts.first?.agentState == .online)
            #expect(status.hosts.first?.hostname == "rig")
            // The heartbeat carries the facts as totals; the host shows this machine's.
            let facts = try HostFactsCollector().collect()
            let host = try #require(status.hosts.first)
            #expect(host.cpuCoresTotal == facts.cpuCores && host.memoryBytesTotal == facts.memoryTotalBytes)
            #expect(host.storageBytesTotal == facts.disks.reduce(0) { $0 + $1.totalBytes } && host.storageBytesTotal > 0)
            #expect(host.kvmAvailable == (facts.kvm.map { $0.present && $0.readable && $0.writable } ?? false))
            try await rig.stop()
            #expect(try await rig.state.outboxCount() == 0)
            #expect(try await rig.provider.reconcileAll().isEmpty)
        }
    }

    @Test("with heartbeats a minute apart an applied plan runs at once: the agent's long poll, over REST, Connect and gRPC",
          arguments: ControlPlaneProtocol.allCases)
    func planArrivesAtOnce(transport: ControlPlaneProtocol) async throws {
        try await AgentRig.with(format: .binary, transport: transport, { $0.heartbeatInterval = .seconds(60) }) { harness, fleet, rig in
            try rig.start()
            // The first heartbeat makes the host known; the next one is a minute away.
            let deadline = ContinuousClock.now.advanced(by: .seconds(20))
            while try await fleet.tenantClient.listHosts(ListHostsRequest(siteId: fleet.site.id)).hosts.isEmpty {
                guard ContinuousClock.now < deadline else { throw HarnessError("the agent's first heartbeat did not arrive") }
                try await Task.sleep(for: .milliseconds(100))
            }
            try await Task.sleep(for: .milliseconds(500))
            let begun = ContinuousClock.now
            let created = try await fleet.tenantClient.applyPlan(ApplyPlanRequest(siteId: fleet.site.id, idempotencyKey: "now", actions: [
                .init(operation: .create, name: "now"),
            ]))
            #expect(try await Self.terminal(fleet, created, seconds: 30).map(\.state) == [.succeeded])
            let took = begun.duration(to: .now)
            #expect(took < .seconds(30), "apply → CREATE succeeded took \(took); a heartbeat would have brought it in a minute")
            try await rig.stop()
        }
    }

    @Test("the control plane restarted mid-run: the agent backs off, comes back, and nothing is lost")
    func controlPlaneRestart() async throws {
        try await AgentRig.with(format: .binary, { $0.heartbeatInterval = .seconds(1) }) { harness, fleet, rig in
            try rig.start()
            let created = try await fleet.tenantClient.applyPlan(ApplyPlanRequest(siteId: fleet.site.id, idempotencyKey: "a", actions: [
                .init(operation: .create, name: "a"),
            ]))
            let vmID = try #require(created.executions.first?.vmId)
            let startPlan = try await fleet.tenantClient.applyPlan(ApplyPlanRequest(siteId: fleet.site.id, idempotencyKey: "b", actions: [
                .init(operation: .start, vmId: vmID),
            ]))
            _ = try await Self.terminal(fleet, startPlan)
            #expect(try await Self.vmState(fleet, vmID) == .running)
            await harness.stopServing()
            try await Task.sleep(for: .seconds(3))
            try await harness.resumeServing()
            let stopPlan = try await fleet.tenantClient.applyPlan(ApplyPlanRequest(siteId: fleet.site.id, idempotencyKey: "c", actions: [
                .init(operation: .stop, vmId: vmID), .init(operation: .delete, vmId: vmID),
            ]))
            #expect(try await Self.terminal(fleet, stopPlan).map(\.state) == [.succeeded, .succeeded])
            try await rig.stop()
            #expect(try await rig.state.outboxCount() == 0)
        }
    }

    @Test("results queued while the control plane is down are delivered once it is back")
    func outboxAcrossOutage() async throws {
        try await AgentRig.with(format: .binary, { $0.heartbeatInterval = .seconds(1) }) { harness, fleet, rig in
            let applied = try await fleet.tenantClient.applyPlan(ApplyPlanRequest(siteId: fleet.site.id, idempotencyKey: "o", actions: [
                .init(operation: .create, name: "o"),
            ]))
            let identity = try #require(try rig.identityStore.load())
            let session = ControlPlaneSession(identity: identity, identityStore: rig.identityStore, urls: [], format: .binary,
                                              insecureSkipVerify: false, logger: AgentRig.logger)
            let leased = try await session.client().heartbeat(HeartbeatRequest(hostname: "rig")).pendingPlans
            #expect(leased.count == 1)
            let executor = PlanExecutor(provider: rig.provider, ledger: rig.state, logSink: OutboxLogSink(store: rig.state, logger: AgentRig.logger),
                                        logger: AgentRig.logger)
            let report = await executor.execute(try #require(leased.first))
            #expect(report.failure == nil)
            let outbox = OutboxShipper(store: rig.state, logger: AgentRig.logger)
            try await outbox.enqueue(report.resultRequest)
            await harness.stopServing()
            let queued = try await rig.state.outboxCount()
            guard case .deferred = await outbox.flush(agentID: identity.agentID, client: try await session.client()) else {
                Issue.record("a flush with the control plane down must defer")
                throw HarnessError("flush did not defer")
            }
            #expect(try await rig.state.outboxCount() == queued, "nothing is dropped while the control plane is down")
            let reopened = try await EdgeStateStore.open(directory: rig.root + "/state", logger: AgentRig.logger)
            #expect(try await reopened.outboxCount() == queued, "the outbox survives an agent restart")
            try await harness.resumeServing()
            #expect(await OutboxShipper(store: reopened, logger: AgentRig.logger).flush(agentID: identity.agentID, client: try await session.client()) == .drained)
            #expect(try await Self.terminal(fleet, applied, seconds: 5).map(\.state) == [.succeeded])
            let logs = try await fleet.tenantClient.listExecutionLogs(ListExecutionLogsRequest(executionId: applied.executions[0].id, limit: 50))
            #expect(!logs.logs.isEmpty)
        }
    }

    @Test("the run loop renews the certificate before it expires and keeps heartbeating with the new one")
    func renewalInTheLoop() async throws {
        try await AgentRig.with(format: .binary, {
            $0.heartbeatInterval = .seconds(1)
            $0.agentCertificateTTL = .seconds(6)
        }) { harness, fleet, rig in
            let enrolled = try #require(try rig.identityStore.load())
            try rig.start()
            let deadline = Date().addingTimeInterval(20)
            var renewed = enrolled
            while Date() < deadline, renewed.certificatePEM == enrolled.certificatePEM {
                try await Task.sleep(for: .milliseconds(200))
                renewed = try #require(try rig.identityStore.load())
            }
            #expect(renewed.certificatePEM != enrolled.certificatePEM, "renewed at about 2/3 of the 6 s lifetime")
            #expect(renewed.refreshToken != enrolled.refreshToken)
            let renewedAt = Date()
            try await Task.sleep(for: .seconds(2))
            let host = try #require(try await fleet.tenantClient.listHosts(ListHostsRequest(siteId: fleet.site.id)).hosts.first)
            #expect(host.agentState == .online)
            #expect((host.agentLastHeartbeatAt?.date ?? .distantPast) > renewedAt, "heartbeats continue with the renewed certificate")
        }
    }

    @Test("the NetBird status the agent evaluates reaches the hosts list")
    func netBirdStatus() async throws {
        try await AgentRig.with(format: .json, { $0.heartbeatInterval = .seconds(1) }) { harness, fleet, rig in
            let fake = URL(fileURLWithPath: try AgentRig.fakeVMM()).deletingLastPathComponent().appending(path: "fake-netbird").path
            var configuration = NetBirdConfiguration()
            configuration.enabled = true
            configuration.binary = fake
            configuration.temporaryDirectory = rig.root
            configuration.environment = ["PATH": "/usr/bin:/bin", "FAKE_NETBIRD_STATE": "connected"]
            try rig.start(netBird: NetBirdMonitor(configuration: configuration, setupKey: nil, logger: AgentRig.logger))
            let deadline = Date().addingTimeInterval(20)
            var netbird: NetbirdStatus?
            while Date() < deadline, netbird?.state != .connected {
                try await Task.sleep(for: .milliseconds(200))
                netbird = try await fleet.tenantClient.listHosts(ListHostsRequest(siteId: fleet.site.id)).hosts.first?.netbird
            }
            #expect(netbird?.state == .connected)
            #expect(netbird?.connected == true)
        }
    }
}
