import NIOCore
import NIOSSL
import NIOTLS
import Prometheus
import Synchronization

/// The client certificate of each open HTTP channel (HTTP/1.1 connection or HTTP/2
/// stream), recorded once per channel by a ``PeerCertificates/Recorder`` in its pipeline,
/// so that each request reads it without leaving its task.
///
/// Asking the TLS handler for it took two hops to the channel's event loop and back per
/// request (is the handler in this pipeline, then its certificate), ~3 % of the control
/// plane's CPU per heartbeat (README, Performance). An entry lives as long as its
/// channel's handlers; the gauge `nkudo_http_channels_open` counts them.
final class PeerCertificates: Sendable {
    /// The DER bytes of each open channel's client certificate (nil: TLS without one, or
    /// the handshake is not done yet).
    private let certificates = Mutex<[ObjectIdentifier: [UInt8]?]>([:])
    private let open: Gauge

    /// An empty record, counted in `registry`.
    init(registry: PrometheusCollectorRegistry) {
        open = registry.makeGauge(descriptor: MetricNameDescriptor(
            namespace: "nkudo", subsystem: "http", metricName: "channels_open", unitName: "",
            helpText: "HTTP/1.1 connections and HTTP/2 streams open (TLS), each with its client certificate recorded"))
    }

    /// The DER bytes of the client certificate presented on `channel`'s connection; nil
    /// when it has none, or the channel has no recorder.
    func der(of channel: any Channel) -> [UInt8]? {
        certificates.withLock { $0[ObjectIdentifier(channel)] ?? nil }
    }

    /// A handler for one channel's pipeline (a new one per channel).
    func recorder() -> Recorder {
        Recorder(certificates: self)
    }

    // The gauge is set under the lock, so that it ends at the last count.
    private func record(_ der: [UInt8]?, for channel: ObjectIdentifier) {
        certificates.withLock { certificates in
            certificates[channel] = .some(der)
            open.set(Int64(certificates.count))
        }
    }

    private func remove(_ channel: ObjectIdentifier) {
        certificates.withLock { certificates in
            certificates.removeValue(forKey: channel)
            open.set(Int64(certificates.count))
        }
    }

    /// Records its channel's client certificate when it is added to the pipeline (the
    /// connection's HTTP handlers are added after the TLS handshake) and again when a
    /// handshake completes after that; forgets it when it is removed, as the channel closes.
    final class Recorder: ChannelInboundHandler, RemovableChannelHandler, Sendable {
        typealias InboundIn = NIOAny

        private let certificates: PeerCertificates

        fileprivate init(certificates: PeerCertificates) {
            self.certificates = certificates
        }

        func handlerAdded(context: ChannelHandlerContext) {
            record(context)
        }

        func handlerRemoved(context: ChannelHandlerContext) {
            certificates.remove(ObjectIdentifier(context.channel))
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if let event = event as? TLSUserEvent, case .handshakeCompleted = event {
                record(context)
            }
            context.fireUserInboundEventTriggered(event)
        }

        /// Records what the TLS handler of the connection (this pipeline, or the parent's
        /// for an HTTP/2 stream: both on this event loop) has received so far.
        private func record(_ context: ChannelHandlerContext) {
            let channel = context.channel
            let handler = (try? context.pipeline.syncOperations.handler(type: NIOSSLHandler.self))
                ?? (channel.parent.flatMap { try? $0.pipeline.syncOperations.handler(type: NIOSSLHandler.self) })
            guard let handler else { return }
            certificates.record(try? handler.peerCertificate?.toDERBytes(), for: ObjectIdentifier(channel))
        }
    }
}
