import Foundation
import Logging
import NKudoControlPlane
import NKudoStore
import Testing

extension DefectTests {
    /// Settings, the admin key and migrations at start-up.
    @Suite("configuration and start-up")
    struct Configuration {
        @Test("configuration: invalid values fail at start with the setting's name")
        func invalidConfiguration() {
            for (name, value) in [("PLAN_LEASE_TTL", "soon"), ("MAX_PENDING_PLANS", "-1"), ("CONTROL_PLANE_ADDR", "nowhere"),
                                  ("REQUIRE_PERSISTENT_PKI", "maybe"), ("DATABASE_URL", "mysql://x"),
                                  // Too long to be meant (and beyond a nanosecond Int64): an error, not a crash.
                                  ("HTTP_READ_TIMEOUT", "99999999999999999999s"), ("PLAN_LEASE_TTL", "1e300h"),
                                  ("AUDIT_RETENTION", "99999999999"), ("HEARTBEAT_OFFLINE_AFTER", "40000d"),
                                  // Advertised to agents as an int32 of seconds: it trapped after the migrations ran.
                                  ("HEARTBEAT_INTERVAL", "3000000000"), ("HEARTBEAT_INTERVAL", "25h")] {
                #expect(throws: ConfigurationError.self) { try ControlPlaneConfiguration.resolve(flags: [:], environment: [name: value]) }
            }
            #expect(throws: ConfigurationError.self) {
                try ControlPlaneConfiguration.resolve(flags: [:], environment: ["REQUIRE_PERSISTENT_PKI": "true"])
            }
            let parsed = try? ControlPlaneConfiguration.resolve(flags: ["PLAN_LEASE_TTL": "1m30s"], environment: ["PLAN_LEASE_TTL": "10"])
            #expect(parsed?.planLeaseTTL == .seconds(90))
        }

        @Test("defect 38: a blank ADMIN_KEY means a generated key in a 0600 file, never open access")
        func defect38() throws {
            let directory = FileManager.default.temporaryDirectory.appending(path: "nkudo-admin-\(UUID().uuidString)").path
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let configuration = try ControlPlaneConfiguration.resolve(flags: [:], environment: ["ADMIN_KEY": "   ", "NKUDO_DATA_DIR": directory])
            #expect(configuration.adminKey == nil)
            let pki = try ControlPlanePKI.load(configuration: configuration, now: Date(), logger: Logger(label: "test"))
            #expect(pki.adminKey.count > 40)
            let path = try #require(pki.adminKeyPath)
            #expect((try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) == 0o600)
        }

        @Test("defect 6: migrations apply once and a second run is a no-op")
        func defect6() async throws {
            var configuration = ControlPlaneConfiguration()
            configuration.dataDirectory = FileManager.default.temporaryDirectory.appending(path: "nkudo-migrate-\(UUID().uuidString)").path
            defer { try? FileManager.default.removeItem(atPath: configuration.dataDirectory) }
            let (store, _) = try ControlPlane.openStore(configuration, logger: Logger(label: "test"))
            let first = try await store.migrate()
            let second = try await store.migrate()
            await store.close()
            #expect(!first.isEmpty)
            #expect(second.isEmpty)
        }
    }
}
