public import NKudoEdge
import NKudoGRPCClient

/// The agent's gRPC transport: NKudoGRPCClient (grpc-swift 2) with the agent's trust and
/// client identity, its failures as the REST statuses the agent acts on. A module of its
/// own so that the agent library's build graph stays free of grpc-swift.
public enum EdgeGRPC {
    /// The factory `ControlPlaneSession` and `ControlPlaneTransport` take for `--transport grpc`.
    public static let transportFactory: GRPCTransportFactory = { host, port, trust, clientIdentity, timeout in
        var tls: GRPCTLS
        switch trust {
        case .certificateAuthority(let pem):
            tls = GRPCTLS(trustRootsPEM: pem, verification: .full)
        case .pinnedCAFingerprint:
            throw ServerTrustError(description: "resolve the pinned CA first (ControlPlaneTransport.resolve)")
        case .insecureSkipVerify:
            tls = GRPCTLS(trustRootsPEM: nil, verification: .none)
        }
        tls.certificateChainPEM = clientIdentity?.certificatePEM
        tls.privateKeyPEM = clientIdentity?.keyPEM
        let transport = try GRPCContractTransport(host: host, port: port, tls: tls, timeout: timeout)
        return AgentGRPCTransport(transport: transport)
    }
}
