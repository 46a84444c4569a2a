import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// The plain-HTTP listener of `/metrics` (`METRICS_ADDR`, loopback by default), apart from
/// the API port, so that fleet-wide counts are not served to anyone who can reach the API.
/// `GET /metrics` answers in Prometheus' text format; anything else is 404. A listener that
/// cannot start stops the control plane with an error that names `METRICS_ADDR`.
struct MetricsListener: Service {
    let host: String
    let port: Int
    let metrics: @Sendable () async -> [UInt8]
    let onRunning: @Sendable (Int) async -> Void
    let logger: Logger

    func run() async throws {
        let router = Router()
        router.get("/metrics") { _, _ -> Response in
            Response(status: .ok, headers: [.contentType: ControlPlane.metricsContentType],
                     body: .init(byteBuffer: ByteBuffer(bytes: await metrics())))
        }
        let application = Application(router: router,
                                      configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "n-kudo-metrics"),
                                      onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) }, logger: logger)
        do {
            try await application.run()
        } catch {
            throw ConfigurationError(setting: "METRICS_ADDR", reason: "the metrics listener on \(host):\(port) failed: \(error) (set another address, or off)")
        }
    }
}
