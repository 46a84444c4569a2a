import Foundation
import NKudoContract
import Testing

@testable import NKudoStore
import NKudoSQL
import SQLTestSupport

// The offline sweep and site connectivity.
extension StoreTests {
    @Test("the sweep marks stale agents OFFLINE and rolls sites up ONLINE / PARTIAL / OFFLINE, writing only changes", arguments: testedDialects)
    func sweepRollsSitesUp(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let tenant = try await fixture.tenant()
            let site = try await fixture.site(tenantID: tenant.id)
            let empty = try await fixture.site(tenantID: tenant.id)
            let first = try await fixture.agent(tenantID: tenant.id, siteID: site.id, at: StoreFixture.at(0))
            let second = try await fixture.agent(tenantID: tenant.id, siteID: site.id, at: StoreFixture.at(0))
            _ = try await fixture.store.ingestHeartbeat(fixture.heartbeat(second.agentID), lease: StoreFixture.lease, now: StoreFixture.at(50))
            let state = { () async throws -> Site.ConnectivityState? in
                try await fixture.store.site(id: site.id, tenantID: tenant.id)?.connectivityState
            }
            #expect(try await state() == .online)

            // Cutoff 60: the first agent (last heartbeat 0) is stale, the boundary is strict.
            #expect(try await fixture.store.sweepOffline(cutoff: StoreFixture.at(0), now: StoreFixture.at(60)) == SweepResult(agentsMarkedOffline: 0, sitesChanged: 0))
            #expect(try await fixture.store.sweepOffline(cutoff: StoreFixture.at(1), now: StoreFixture.at(61)) == SweepResult(agentsMarkedOffline: 1, sitesChanged: 1))
            #expect(try await state() == .partial)
            #expect(try await fixture.store.agent(id: first.agentID)?.state == .offline)
            #expect(try await fixture.store.listHosts(tenantID: tenant.id, siteID: site.id).map(\.agentState).sorted { $0.rawValue < $1.rawValue } == [.online, .offline])
            #expect(try await fixture.store.sweepOffline(cutoff: StoreFixture.at(1), now: StoreFixture.at(62)) == SweepResult(agentsMarkedOffline: 0, sitesChanged: 0))

            #expect(try await fixture.store.sweepOffline(cutoff: StoreFixture.at(51), now: StoreFixture.at(111)) == SweepResult(agentsMarkedOffline: 1, sitesChanged: 1))
            #expect(try await state() == .offline)
            #expect(try await fixture.store.site(id: empty.id, tenantID: tenant.id)?.connectivityState == .offline)

            // The next heartbeat brings its agent and the site back.
            _ = try await fixture.store.ingestHeartbeat(fixture.heartbeat(first.agentID), lease: StoreFixture.lease, now: StoreFixture.at(120))
            #expect(try await state() == .partial)
            #expect(try await fixture.store.agent(id: first.agentID)?.state == .online)
            _ = try await fixture.store.ingestHeartbeat(fixture.heartbeat(second.agentID), lease: StoreFixture.lease, now: StoreFixture.at(121))
            #expect(try await state() == .online)
            #expect(try await fixture.store.site(id: site.id, tenantID: tenant.id)?.lastHeartbeatAt == ProtoTimestamp(date: StoreFixture.at(121)))
        }
    }

    @Test("agents of one site coming back at once, concurrently, leave their site ONLINE", arguments: testedDialects)
    func concurrentReturnsRollTheSiteUp(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let tenant = try await fixture.tenant()
            let site = try await fixture.site(tenantID: tenant.id)
            var agents: [String] = []
            for _ in 0..<8 {
                agents.append(try await fixture.agent(tenantID: tenant.id, siteID: site.id, at: StoreFixture.at(0)).agentID)
            }
            _ = try await fixture.store.sweepOffline(cutoff: StoreFixture.at(1), now: StoreFixture.at(61))
            #expect(try await fixture.store.site(id: site.id, tenantID: tenant.id)?.connectivityState == .offline)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for agentID in agents {
                    group.addTask {
                        _ = try await fixture.store.ingestHeartbeat(fixture.heartbeat(agentID), lease: StoreFixture.lease, now: StoreFixture.at(70))
                    }
                }
                try await group.waitForAll()
            }
            let rolledUp = try #require(try await fixture.store.site(id: site.id, tenantID: tenant.id))
            #expect(rolledUp.connectivityState == .online)
            #expect(rolledUp.lastHeartbeatAt == ProtoTimestamp(date: StoreFixture.at(70)))
        }
    }

    @Test("defect 29: the sweep keeps a site's last_heartbeat_at (the latest of its agents, never NULL)", arguments: testedDialects)
    func sweepKeepsLastHeartbeat(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let world = try await fixture.world()
            _ = try await fixture.store.ingestHeartbeat(fixture.heartbeat(world.agent.agentID), lease: StoreFixture.lease, now: StoreFixture.at(30))
            _ = try await fixture.store.sweepOffline(cutoff: StoreFixture.at(100), now: StoreFixture.at(160))
            let site = try #require(try await fixture.store.site(id: world.siteID, tenantID: world.tenantID))
            #expect(site.connectivityState == .offline)
            #expect(site.lastHeartbeatAt == ProtoTimestamp(date: StoreFixture.at(30)))
            // A site whose last heartbeat is known but has no agent row left keeps it too.
            let lone = try await fixture.site(tenantID: world.tenantID)
            try await fixture.execute("UPDATE sites SET last_heartbeat_at = $1 WHERE id = $2", [.timestamp(StoreFixture.at(7)), .text(lone.id)])
            _ = try await fixture.store.sweepOffline(cutoff: StoreFixture.at(200), now: StoreFixture.at(260))
            #expect(try await fixture.store.site(id: lone.id, tenantID: world.tenantID)?.lastHeartbeatAt == ProtoTimestamp(date: StoreFixture.at(7)))
        }
    }

    @Test("concurrent sweeps (two stores) mark each stale agent OFFLINE once", arguments: testedDialects)
    func concurrentSweeps(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let world = try await fixture.world()
            for _ in 0..<9 {
                _ = try await fixture.agent(tenantID: world.tenantID, siteID: world.siteID)
            }
            let replica = try fixture.storage.open(maxConnections: 4)
            let stores = [fixture.store, SQLStore(database: replica, logger: silentLogger)]
            let results = try await withThrowingTaskGroup(of: SweepResult.self) { group in
                for index in 0..<6 {
                    group.addTask { try await stores[index % 2].sweepOffline(cutoff: StoreFixture.at(60), now: StoreFixture.at(120)) }
                }
                return try await group.reduce(into: [SweepResult]()) { $0.append($1) }
            }
            await replica.close()
            #expect(results.map(\.agentsMarkedOffline).reduce(0, +) == 10)
            #expect(results.map(\.sitesChanged).reduce(0, +) >= 1)
            #expect(try await fixture.store.site(id: world.siteID, tenantID: world.tenantID)?.connectivityState == .offline)
        }
    }

    @Test("heartbeats of all agents of a site, concurrently, leave the site ONLINE", arguments: testedDialects)
    func concurrentHeartbeatsRollUpTheSite(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let world = try await fixture.world()
            var agents = [world.agent.agentID]
            for _ in 0..<7 {
                agents.append(try await fixture.agent(tenantID: world.tenantID, siteID: world.siteID).agentID)
            }
            _ = try await fixture.store.sweepOffline(cutoff: StoreFixture.at(60), now: StoreFixture.at(120))
            #expect(try await fixture.store.site(id: world.siteID, tenantID: world.tenantID)?.connectivityState == .offline)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for agent in agents {
                    group.addTask { _ = try await fixture.store.ingestHeartbeat(fixture.heartbeat(agent), lease: StoreFixture.lease, now: StoreFixture.at(130)) }
                }
                try await group.waitForAll()
            }
            #expect(try await fixture.store.site(id: world.siteID, tenantID: world.tenantID)?.connectivityState == .online)
        }
    }
}
