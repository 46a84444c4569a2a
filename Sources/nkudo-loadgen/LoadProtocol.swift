import ArgumentParser

/// How the simulated agents talk to the control plane (`--transport`), as `nkudo-edge run
/// --transport` does.
enum LoadProtocol: String, CaseIterable, ExpressibleByArgument, Sendable {
    /// The REST routes over HTTP/1.1, one kept-alive connection per agent.
    case rest
    /// The Connect paths (`POST /<service>/<method>`) over HTTP/1.1, one connection per agent.
    case connect
    /// gRPC over HTTP/2, binary protobuf, one connection per agent.
    case grpc
}
