import ControlPlaneTestSupport
import Foundation
import NIOHTTP1
import Testing

extension DefectTests {
    /// Headers every response carries.
    @Suite("HTTP behaviour")
    struct HTTPBehaviour {
        @Test("defect 33: X-Request-ID is echoed, or generated when absent")
        func defect33() async throws {
            try await ControlPlaneHarness.withFleet { harness, _ in
                let client = try harness.client()
                let echoed = try await harness.send(client, .GET, "/healthz", headers: [("X-Request-ID", "req-42")])
                #expect(echoed.headers["X-Request-ID"].first == "req-42")
                let generated = try await harness.send(client, .GET, "/healthz")
                #expect(UUID(uuidString: generated.headers["X-Request-ID"].first ?? "") != nil)
            }
        }
    }
}
