import Foundation
import NKudoContract
import Testing

@testable import NKudoStore
import NKudoSQL
import SQLTestSupport

/// Web console sessions (schema 6): stored by id hash, ended by their API key's revocation
/// or expiry, by idleness, by their lifetime and by signing out.
extension StoreTests {
    /// The session lookup of the tests: idle for at most an hour, opened at most a day ago.
    func session(_ store: SQLStore, _ idHash: String, at seconds: TimeInterval) async throws -> ConsoleSessionRecord? {
        let now = StoreFixture.at(seconds)
        return try await store.consoleSession(idHash: idHash, now: now, idleSince: now.addingTimeInterval(-3600),
                                              createdSince: now.addingTimeInterval(-86_400))
    }

    @Test("console sessions: a tenant session lives while its key does, is touched when used, ends idle, old or signed out",
          arguments: testedDialects)
    func consoleSessions(dialect: SQLDialect) async throws {
        try await withStore(dialect) { fixture in
            let store = fixture.store
            let tenant = try await fixture.tenant()
            let key = try await store.createAPIKey(NewAPIKey(id: StoreFixture.id(), tenantID: tenant.id, name: "console", keyHash: "h-console",
                                                             expiresAt: StoreFixture.at(50_000), createdAt: StoreFixture.t0))
            let session = NewConsoleSession(idHash: "s1", owner: .tenant(apiKeyID: key.id, tenantID: tenant.id), csrfToken: "csrf-1",
                                            createdAt: StoreFixture.t0)
            try await store.createConsoleSession(session, expiredBefore: StoreFixture.at(-3600))
            await #expect(throws: StoreError.self) { try await store.createConsoleSession(session, expiredBefore: StoreFixture.at(-3600)) }

            let found = try #require(try await self.session(store, "s1", at: 10))
            #expect(found.principal == .tenant(key) && found.csrfToken == "csrf-1" && found.lastSeenAt == StoreFixture.t0,
                    "used within a minute: not written")
            #expect(try await self.session(store, "s1", at: 3000)?.lastSeenAt == StoreFixture.t0)
            #expect(try await self.session(store, "s1", at: 3100)?.lastSeenAt == StoreFixture.at(3000), "the previous use was written")
            #expect(try await self.session(store, "s1", at: 7000) == nil, "idle for more than an hour")
            #expect(try await self.session(store, "other", at: 10) == nil)

            // Used every half hour, a session still ends a day after it was opened.
            let forever = try await store.createAPIKey(NewAPIKey(id: StoreFixture.id(), tenantID: tenant.id, name: "forever", keyHash: "h-forever",
                                                                 expiresAt: nil, createdAt: StoreFixture.t0))
            try await store.createConsoleSession(NewConsoleSession(idHash: "s2", owner: .tenant(apiKeyID: forever.id, tenantID: tenant.id),
                                                                   csrfToken: "csrf-2", createdAt: StoreFixture.t0),
                                                 expiredBefore: StoreFixture.at(-3600))
            for half in 1...47 { #expect(try await self.session(store, "s2", at: TimeInterval(half * 1800)) != nil) }
            #expect(try await self.session(store, "s2", at: 86_401) == nil)

            // The key's expiry and revocation end its sessions at once.
            try await store.createConsoleSession(NewConsoleSession(idHash: "s3", owner: .tenant(apiKeyID: key.id, tenantID: tenant.id),
                                                                   csrfToken: "csrf-3", createdAt: StoreFixture.at(49_000)),
                                                 expiredBefore: StoreFixture.at(45_000))
            #expect(try await self.session(store, "s3", at: 49_999) != nil)
            #expect(try await self.session(store, "s3", at: 50_000) == nil, "the key expired")
            try await store.createConsoleSession(NewConsoleSession(idHash: "s4", owner: .tenant(apiKeyID: key.id, tenantID: tenant.id),
                                                                   csrfToken: "csrf-4", createdAt: StoreFixture.at(100)),
                                                 expiredBefore: StoreFixture.at(-3600))
            #expect(try await self.session(store, "s4", at: 200) != nil)
            try await fixture.execute("UPDATE api_keys SET revoked_at = $1 WHERE id = $2", [.int(StoreFixture.at(300).unixMicroseconds), .text(key.id)])
            #expect(try await self.session(store, "s4", at: 301) == nil, "the key was revoked")

            // Admin sessions carry the admin key's hash; signing out deletes a session.
            try await store.createConsoleSession(NewConsoleSession(idHash: "a1", owner: .admin(adminKeyHash: "admin-hash"), csrfToken: "csrf-a",
                                                                   createdAt: StoreFixture.at(100)),
                                                 expiredBefore: StoreFixture.at(-3600))
            #expect(try await self.session(store, "a1", at: 200)?.principal == .admin(adminKeyHash: "admin-hash"))
            try await store.deleteConsoleSession(idHash: "a1")
            try await store.deleteConsoleSession(idHash: "a1")
            #expect(try await self.session(store, "a1", at: 201) == nil)

            // Opening a session deletes those idle since before the cutoff.
            try await store.createConsoleSession(NewConsoleSession(idHash: "a2", owner: .admin(adminKeyHash: "admin-hash"), csrfToken: "csrf-b",
                                                                   createdAt: StoreFixture.at(90_000)),
                                                 expiredBefore: StoreFixture.at(85_000))
            let remaining = try await fixture.database.withConnection { connection throws(StoreError) in
                try connection.query(SQLStatement(raw: "SELECT id_hash FROM console_sessions ORDER BY id_hash")).map { row throws(StoreError) in
                    try row.text("id_hash")
                }
            }
            #expect(remaining == ["a2"])
        }
    }

    @Test("upgrade: a schema-5 database keeps its keys and then opens console sessions on them", arguments: testedDialects)
    func upgradeFromSchema5(dialect: SQLDialect) async throws {
        try await withTestDatabase(dialect) { storage, database in
            let old = MigrationRunner(database: database, migrations: Migration.embedded(for: dialect).filter { $0.version <= 5 }, logger: silentLogger)
            #expect(try await old.migrate().map(\.version) == [1, 2, 3, 4, 5])
            let store = SQLStore(database: database, logger: silentLogger)
            let fixture = StoreFixture(store: store, database: database, storage: storage)
            let tenant = try await fixture.tenant()
            let key = try await store.createAPIKey(NewAPIKey(id: StoreFixture.id(), tenantID: tenant.id, name: "old", keyHash: "h-old",
                                                             expiresAt: nil, createdAt: StoreFixture.t0))

            let applied = try await store.migrate()
            #expect(applied.last == "0006_console_sessions.sql")
            try await store.checkSchema()
            #expect(try await store.apiKey(hash: "h-old", now: StoreFixture.at(1)) == key)
            try await store.createConsoleSession(NewConsoleSession(idHash: "s", owner: .tenant(apiKeyID: key.id, tenantID: tenant.id),
                                                                   csrfToken: "c", createdAt: StoreFixture.t0),
                                                 expiredBefore: StoreFixture.at(-3600))
            #expect(try await self.session(store, "s", at: 1)?.principal == .tenant(key))
            // A session names a real key of its tenant, or an admin key hash, never both.
            await #expect(throws: StoreError.self) {
                try await fixture.execute("""
                    INSERT INTO console_sessions (id_hash, kind, tenant_id, api_key_id, admin_key_hash, csrf_token, created_at, last_seen_at)
                    VALUES ('x', 'ADMIN', NULL, $1, 'h', 'c', 0, 0)
                    """, [.text(key.id)])
            }
            await #expect(throws: StoreError.self) {
                try await fixture.execute("""
                    INSERT INTO console_sessions (id_hash, kind, tenant_id, api_key_id, admin_key_hash, csrf_token, created_at, last_seen_at)
                    VALUES ('y', 'TENANT', $1, 'no-such-key', NULL, 'c', 0, 0)
                    """, [.text(tenant.id)])
            }
        }
    }
}
