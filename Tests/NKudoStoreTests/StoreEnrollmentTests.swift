import Foundation
import NKudoContract
import Testing

@testable import NKudoStore
import NKudoSQL
import SQLTestSupport

// Enrollment tokens, enrollment, agents, credential rotation.
extension StoreTests {
    @Test("enroll creates host and agent (defect 12: with its fingerprint), marks the site ONLINE; the token then is used up", arguments: testedDialects)
    func enroll(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let tenant = try await fixture.tenant()
            let site = try await fixture.site(tenantID: tenant.id)
            let hash = try await fixture.token(tenantID: tenant.id, siteID: site.id)
            let request = fixture.enrollment(tokenHash: hash, hostname: "edge-1")
            let enrolled = try await fixture.store.enroll(request, now: StoreFixture.at(5))
            #expect(enrolled == EnrollmentRecord(tenantID: tenant.id, siteID: site.id, hostID: request.hostID, agentID: request.agentID))

            let agent = try #require(try await fixture.store.agent(id: request.agentID))
            #expect(agent.state == .online)
            #expect(agent.heartbeatSeq == 0)
            #expect(agent.lastHeartbeatAt == StoreFixture.at(5))
            #expect(agent.certificateSerial == "1001")
            #expect(agent.certificateExpiresAt == StoreFixture.at(86_400))
            #expect(agent.refreshTokenHash == request.refreshTokenHash)
            let fingerprint = try await fixture.rows("SELECT machine_id_sha256, primary_mac_sha256 FROM agents WHERE id = $1", [.text(agent.id)])
            #expect(try fingerprint.first?.text("machine_id_sha256") == "machine-edge-1")
            #expect(try fingerprint.first?.text("primary_mac_sha256") == "mac-edge-1")

            let stored = try #require(try await fixture.store.site(id: site.id, tenantID: tenant.id))
            #expect(stored.connectivityState == .online)
            #expect(stored.lastHeartbeatAt == ProtoTimestamp(date: StoreFixture.at(5)))
            let hosts = try await fixture.store.listHosts(tenantID: tenant.id, siteID: site.id)
            #expect(hosts.map(\.hostname) == ["edge-1"])
            #expect(hosts.first?.agentState == .online)
            #expect(hosts.first?.lastFactsAt == nil)
            #expect(hosts.first?.netbird == nil)

            let again = await storeError { try await fixture.store.enroll(fixture.enrollment(tokenHash: hash, hostname: "edge-2"), now: StoreFixture.at(6)) }
            #expect(again == StoreError(.unauthorized, "invalid or expired enrollment token", underlying: "enrollment token already used"))
        }
    }

    @Test("enroll rejects unknown and expired tokens (expiry is strict) with .unauthorized", arguments: testedDialects)
    func enrollRejectsBadTokens(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let tenant = try await fixture.tenant()
            let site = try await fixture.site(tenantID: tenant.id)
            let hash = try await fixture.token(tenantID: tenant.id, siteID: site.id, expiresAt: StoreFixture.at(60))
            let unknown = await storeError { try await fixture.store.enroll(fixture.enrollment(tokenHash: "nope", hostname: "h"), now: StoreFixture.t0) }
            #expect(unknown == StoreError(.unauthorized, "invalid or expired enrollment token", underlying: "unknown enrollment token"))
            let expired = await storeError { try await fixture.store.enroll(fixture.enrollment(tokenHash: hash, hostname: "h"), now: StoreFixture.at(60)) }
            #expect(expired == StoreError(.unauthorized, "invalid or expired enrollment token", underlying: "enrollment token expired"))
            _ = try await fixture.store.enroll(fixture.enrollment(tokenHash: hash, hostname: "h"), now: StoreFixture.at(59))
        }
    }

    @Test("issueEnrollmentToken needs a site of the tenant", arguments: testedDialects)
    func issueTokenNeedsTheTenantsSite(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let tenant = try await fixture.tenant()
            let other = try await fixture.tenant()
            let site = try await fixture.site(tenantID: tenant.id)
            let token = NewEnrollmentToken(
                id: StoreFixture.id(), tenantID: other.id, siteID: site.id, tokenHash: "h", expiresAt: StoreFixture.at(60), createdAt: StoreFixture.t0
            )
            #expect(await storeError { try await fixture.store.issueEnrollmentToken(token) }?.code == .notFound)
            var valid = token
            valid.tenantID = tenant.id
            let record = try await fixture.store.issueEnrollmentToken(valid)
            #expect(record == EnrollmentTokenRecord(id: token.id, tenantID: tenant.id, siteID: site.id, expiresAt: StoreFixture.at(60)))
        }
    }

    @Test("defect 34: a bad enrollment does not burn the token (a host that has an agent is .conflict)", arguments: testedDialects)
    func failedEnrollmentKeepsTheToken(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let tenant = try await fixture.tenant()
            let site = try await fixture.site(tenantID: tenant.id)
            _ = try await fixture.agent(tenantID: tenant.id, siteID: site.id, hostname: "edge-1")
            let hash = try await fixture.token(tenantID: tenant.id, siteID: site.id)
            let conflict = await storeError { try await fixture.store.enroll(fixture.enrollment(tokenHash: hash, hostname: "edge-1"), now: StoreFixture.t0) }
            #expect(conflict?.code == .conflict)
            let used = try await fixture.rows("SELECT used_at FROM enrollment_tokens WHERE token_hash = $1", [.text(hash)])
            #expect(used.first?["used_at"] == .null)

            let second = try await fixture.store.enroll(fixture.enrollment(tokenHash: hash, hostname: "edge-2"), now: StoreFixture.t0)
            #expect(second.siteID == site.id)
            #expect(try await fixture.store.listHosts(tenantID: tenant.id, siteID: site.id).map(\.hostname) == ["edge-1", "edge-2"])
            #expect(try await fixture.rows("SELECT id FROM agents").count == 2)
        }
    }

    @Test("20 concurrent enrollments with one token create exactly one agent", arguments: testedDialects)
    func concurrentEnrollmentsWithOneToken(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let tenant = try await fixture.tenant()
            let site = try await fixture.site(tenantID: tenant.id)
            let hash = try await fixture.token(tenantID: tenant.id, siteID: site.id)
            let outcomes = await withTaskGroup(of: StoreError.Code?.self) { group in
                for index in 0..<20 {
                    group.addTask {
                        do {
                            _ = try await fixture.store.enroll(fixture.enrollment(tokenHash: hash, hostname: "edge-\(index)"), now: StoreFixture.t0)
                            return nil
                        } catch {
                            return (error as? StoreError)?.code
                        }
                    }
                }
                return await group.reduce(into: [StoreError.Code?]()) { $0.append($1) }
            }
            #expect(outcomes.filter { $0 == nil }.count == 1)
            #expect(outcomes.filter { $0 == .unauthorized }.count == 19)
            #expect(try await fixture.rows("SELECT id FROM agents").count == 1)
            #expect(try await fixture.rows("SELECT id FROM hosts").count == 1)
        }
    }

    @Test("defect 35 and issue 11 (renewal grace): a rotation keeps the replaced credentials until the new ones are used or the grace passes", arguments: testedDialects)
    func rotateCredentials(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let world = try await fixture.world()
            let agentID = world.agent.agentID
            func rotation(_ expected: CredentialRotation.Expectation, to serial: String, refresh: String) -> CredentialRotation {
                CredentialRotation(agentID: agentID, expected: expected, newCertificateSerial: serial, newCertificateExpiresAt: StoreFixture.at(172_800),
                                   newRefreshTokenHash: refresh, graceUntil: StoreFixture.at(3600))
            }
            let rotated = try await fixture.store.rotateAgentCredentials(rotation(.certificateSerial("1001"), to: "1002", refresh: "refresh-2"),
                                                                         now: StoreFixture.at(10))
            #expect(rotated.certificateSerial == "1002" && rotated.refreshTokenHash == "refresh-2")
            #expect(rotated.certificateExpiresAt == StoreFixture.at(172_800))
            #expect(rotated.previousCertificateSerial == "1001" && rotated.previousCredentialsExpireAt == StoreFixture.at(3600))
            #expect(rotated.credential(serial: "1001", at: StoreFixture.at(11)) == .previous)
            #expect(rotated.credential(serial: "1001", at: StoreFixture.at(3600)) == .superseded)

            // The response was lost: the agent renews again with what it has, the old serial.
            let retried = try await fixture.store.rotateAgentCredentials(rotation(.certificateSerial("1001"), to: "1003", refresh: "refresh-3"),
                                                                         now: StoreFixture.at(20))
            #expect(retried.certificateSerial == "1003" && retried.previousCertificateSerial == "1001")
            // The never-used new serial of the lost response is gone.
            #expect(await storeError {
                try await fixture.store.rotateAgentCredentials(rotation(.certificateSerial("1002"), to: "1004", refresh: "x"), now: StoreFixture.at(21))
            }?.code == .unauthorized)
            // So is the old refresh token's grace once the new credentials are used.
            try await fixture.store.confirmCurrentCredentials(agentID: agentID)
            #expect(try await fixture.store.agent(id: agentID)?.previousCertificateSerial == nil)
            #expect(await storeError {
                try await fixture.store.rotateAgentCredentials(rotation(.certificateSerial("1001"), to: "1005", refresh: "x"), now: StoreFixture.at(22))
            }?.code == .unauthorized)

            // By refresh token (an expired certificate), with the same grace.
            #expect(try await fixture.store.rotateAgentCredentials(rotation(.refreshTokenHash("refresh-3"), to: "1006", refresh: "refresh-6"),
                                                                   now: StoreFixture.at(30)).certificateSerial == "1006")
            #expect(try await fixture.store.rotateAgentCredentials(rotation(.refreshTokenHash("refresh-3"), to: "1007", refresh: "refresh-7"),
                                                                   now: StoreFixture.at(31)).certificateSerial == "1007")
            #expect(await storeError {
                try await fixture.store.rotateAgentCredentials(rotation(.refreshTokenHash("refresh-3"), to: "1008", refresh: "x"), now: StoreFixture.at(3601))
            }?.code == .unauthorized)
            var unknown = rotation(.refreshTokenHash("refresh-7"), to: "1009", refresh: "x")
            unknown.agentID = StoreFixture.id()
            #expect(await storeError { try await fixture.store.rotateAgentCredentials(unknown, now: StoreFixture.at(32)) }?.code == .unauthorized)
            #expect(try await fixture.store.agent(id: agentID)?.refreshTokenHash == "refresh-7")
        }
    }

    @Test("20 concurrent renewals with the same old serial: one new serial is current, the old one stays in grace", arguments: testedDialects)
    func concurrentRotations(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let world = try await fixture.world()
            let renewed = await withTaskGroup(of: String?.self) { group in
                for index in 0..<20 {
                    group.addTask {
                        let rotation = CredentialRotation(
                            agentID: world.agent.agentID, expected: .certificateSerial("1001"), newCertificateSerial: "2\(index)",
                            newCertificateExpiresAt: StoreFixture.at(100), newRefreshTokenHash: "r\(index)", graceUntil: StoreFixture.at(100)
                        )
                        return try? await fixture.store.rotateAgentCredentials(rotation, now: StoreFixture.t0).certificateSerial
                    }
                }
                return await group.reduce(into: [String]()) { list, serial in serial.map { list.append($0) } }
            }
            #expect(renewed.count == 20, "each is a retry of a renewal whose response was lost")
            let agent = try #require(try await fixture.store.agent(id: world.agent.agentID))
            #expect(renewed.contains(agent.certificateSerial))
            #expect(agent.previousCertificateSerial == "1001")
            #expect(renewed.filter { agent.credential(serial: $0, at: StoreFixture.t0) == .current }.count == 1)
        }
    }
}
