public import Hummingbird
public import NIOCore

/// The Hummingbird request context of the control plane: the core context plus the
/// channel, from which the TLS layer's peer certificate and the remote address are read.
public struct ControlPlaneRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The connection's channel (TLS handler in its pipeline).
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
    }
}
