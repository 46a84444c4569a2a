import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import NKudoContract
import NKudoGRPCClient

/// What an enrolled agent needs to talk to the control plane again (kept in the fleet file).
struct AgentIdentity: Codable, Sendable {
    var agentId: String
    var tenantId: String
    var siteId: String
    var hostId: String
    var hostname: String
    var certificatePEM: String
    var keyPEM: String
}

/// One simulated edge agent: its own key, certificate and kept-alive mTLS connection, and a
/// heartbeat shaped like the real agent's (host facts, `vms` microVMs, no NetBird).
///
/// The body is encoded once; each heartbeat appends its sequence number and `sent_at` (and,
/// now and then, an execution update) to it. In binary that is exact protobuf (a field that
/// follows the others is simply read last); in JSON the fields are spliced in before the
/// closing brace. So the generator spends microseconds, not the encoder's, per heartbeat.
final class SimulatedAgent: Sendable {
    let identity: AgentIdentity
    let format: WireFormat
    /// How it talks to the control plane.
    let transport: LoadProtocol
    let connection: HTTPSConnection
    let client: AgentServiceClient<LoadTransport>
    /// The agent's gRPC connection, when the load runs over gRPC (heartbeats only).
    let grpc: GRPCContractTransport?
    /// The agent's long poll for plans, on a connection of its own as the real agent's
    /// (`nkudo-edge run --plan-wait`); nil when plans come with heartbeats only.
    let poller: PlanPoller?
    /// The heartbeat without `heartbeat_seq` and `sent_at`: binary bytes, or JSON without its
    /// closing brace.
    private let template: [UInt8]

    init(identity: AgentIdentity, format: WireFormat, vms: Int, host: String, port: Int, caPEM: String, timeout: TimeAmount,
         over transport: LoadProtocol = .rest, planWait: Duration = .zero) throws {
        self.identity = identity
        self.transport = transport
        let overGRPC = transport == .grpc
        let wire: WireFormat = overGRPC ? .binary : format
        self.format = wire
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv13
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(caPEM.utf8)))
        tls.certificateVerification = .noHostnameVerification
        tls.certificateChain = try NIOSSLCertificate.fromPEMBytes(Array(identity.certificatePEM.utf8)).map { .certificate($0) }
        tls.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: Array(identity.keyPEM.utf8), format: .pem))
        let context = try NIOSSLContext(configuration: tls)
        connection = HTTPSConnection(host: host, port: port, tls: context, timeout: timeout)
        client = AgentServiceClient(transport: LoadTransport(connection: connection, format: wire, connect: transport == .connect))
        let grpcTLS = GRPCTLS(trustRootsPEM: caPEM, verification: .chainOnly, certificateChainPEM: identity.certificatePEM,
                              privateKeyPEM: identity.keyPEM)
        if overGRPC {
            grpc = try GRPCContractTransport(host: host, port: port, tls: grpcTLS, timeout: .nanoseconds(timeout.nanoseconds))
        } else {
            grpc = nil
        }
        if planWait > .zero {
            let pollTimeout = planWait + .nanoseconds(timeout.nanoseconds)
            poller = overGRPC
                ? .grpc(AgentServiceClient(transport: try GRPCContractTransport(host: host, port: port, tls: grpcTLS, timeout: pollTimeout)))
                : .rest(AgentServiceClient(transport: LoadTransport(
                    connection: HTTPSConnection(host: host, port: port, tls: context, timeout: .nanoseconds(Int64(pollTimeout / .nanoseconds(1)))),
                    format: wire, connect: transport == .connect)))
        } else {
            poller = nil
        }
        let request = Self.heartbeat(identity, vms: vms)
        if wire == .binary {
            template = try request.serializedBytes()
        } else {
            template = Array(try request.jsonBytes().dropLast())
        }
    }

    /// The realistic part of a heartbeat, as `nkudo-edge run` fills it: host facts as
    /// totals (16 cores, 64 GiB, two filesystems, KVM usable) and each VM's id, name,
    /// state, size and last change.
    static func heartbeat(_ identity: AgentIdentity, vms: Int) -> HeartbeatRequest {
        let since = ProtoTimestamp(seconds: 1_764_000_000, nanos: 0)
        let reports = (0..<vms).map { index in
            HeartbeatRequest.MicroVMReport(
                id: Self.vmID(agentID: identity.agentId, index: index), name: "vm-\(identity.hostname)-\(index)", status: "RUNNING",
                vcpuCount: 2, memoryMib: 2048, updatedAt: since)
        }
        return HeartbeatRequest(
            agentId: identity.agentId, agentVersion: "0.1.0-loadgen", os: "linux", arch: "x86_64", kernelVersion: "6.1.0-28-amd64",
            hostname: identity.hostname, cpuCoresTotal: 16, memoryBytesTotal: 67_430_866_944,
            storageBytesTotal: 502_468_108_288 + 1_999_844_147_200, kvmAvailable: true, cloudHypervisorAvailable: true,
            microvms: reports)
    }

    /// A stable VM id per agent and index (a UUID, so the server takes it as it is).
    static func vmID(agentID: String, index: Int) -> String {
        let digits = String(format: "%012x", index)
        return String(agentID.prefix(24)) + digits
    }

    /// The heartbeat body with this sequence number, sent now, and an optional execution update.
    func heartbeatBody(sequence: Int64, update: HeartbeatRequest.ExecutionUpdate?) throws -> ByteBuffer {
        let now = Date().timeIntervalSince1970
        let seconds = Int64(now)
        let nanos = Int64((now - Double(seconds)) * 1e9)
        var buffer = ByteBuffer()
        buffer.reserveCapacity(template.count + 160)
        buffer.writeBytes(template)
        switch format {
        case .binary:
            buffer.writeInteger(UInt8(0x10))  // field 2, varint
            Self.writeVarint(UInt64(sequence), to: &buffer)
            var timestamp = ByteBuffer()
            timestamp.writeInteger(UInt8(0x08))
            Self.writeVarint(UInt64(seconds), to: &timestamp)
            timestamp.writeInteger(UInt8(0x10))
            Self.writeVarint(UInt64(nanos), to: &timestamp)
            buffer.writeBytes([0x9A, 0x01])  // field 19, length-delimited
            Self.writeVarint(UInt64(timestamp.readableBytes), to: &buffer)
            buffer.writeBuffer(&timestamp)
            if let update {
                let bytes = try update.serializedBytes()
                buffer.writeInteger(UInt8(0x72))  // field 14, length-delimited
                Self.writeVarint(UInt64(bytes.count), to: &buffer)
                buffer.writeBytes(bytes)
            }
        case .json:
            let sentAt = ProtoTimestamp(seconds: seconds, nanos: Int32(nanos)).description
            buffer.writeString(",\"heartbeat_seq\":\"\(sequence)\",\"sent_at\":\"\(sentAt)\"")
            if let update {
                buffer.writeString(",\"execution_updates\":[")
                buffer.writeBytes(try update.jsonBytes())
                buffer.writeString("]")
            }
            buffer.writeString("}")
        }
        return buffer
    }

    /// Sends one heartbeat; returns the plans leased with it.
    func sendHeartbeat(sequence: Int64, update: HeartbeatRequest.ExecutionUpdate?) async throws -> (response: HeartbeatResponse, requestBytes: Int) {
        let body = try heartbeatBody(sequence: sequence, update: update)
        let size = body.readableBytes
        if let grpc {
            do {
                return (try await grpc.unary(AgentService.Method.heartbeat, encodedRequest: Array(body.readableBytesView),
                                             responseType: HeartbeatResponse.self), size)
            } catch let failure as GRPCCallFailure {
                throw HTTPSConnection.Failure(kind: "grpc \(failure.code)", message: failure.message)
            }
        }
        if transport == .connect {
            let response = try await connection.request(method: .POST, path: AgentService.Method.heartbeat.connectPath,
                                                        headers: LoadTransport.connectHeaders(format), body: body)
            return (try LoadTransport.decodeConnect(response, as: HeartbeatResponse.self, format: format), size)
        }
        let response = try await connection.request(
            method: .POST, path: "/v1/heartbeat",
            headers: [("Content-Type", format.contentType), ("Accept", format.contentType)], body: body)
        return (try LoadTransport.decode(response, as: HeartbeatResponse.self, format: format), size)
    }

    private static func writeVarint(_ value: UInt64, to buffer: inout ByteBuffer) {
        var value = value
        while value >= 0x80 {
            buffer.writeInteger(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        buffer.writeInteger(UInt8(value))
    }
}

/// A simulated agent's long poll for plans and the reports of the plans it brings, over
/// the poll's own connection (REST or Connect over HTTP/1.1, or gRPC, as the agent's heartbeats).
enum PlanPoller: Sendable {
    case rest(AgentServiceClient<LoadTransport>)
    case grpc(AgentServiceClient<GRPCContractTransport>)

    /// One long poll: the plans leased within `wait`.
    func nextPlans(wait: Duration) async throws -> [LeasedPlan] {
        let milliseconds = wait.components.seconds * 1000 + wait.components.attoseconds / 1_000_000_000_000_000
        let request = NextPlansRequest(wait: "\(milliseconds)ms")
        switch self {
        case .rest(let client): return try await client.nextPlans(request).plans
        case .grpc(let client): return try await client.nextPlans(request).plans
        }
    }

    /// Ships a log line of an execution.
    func ingestLogs(_ request: IngestLogsRequest) async throws {
        switch self {
        case .rest(let client): _ = try await client.ingestLogs(request)
        case .grpc(let client): _ = try await client.ingestLogs(request)
        }
    }

    /// Reports a plan's results.
    func reportExecutionResult(_ request: ReportExecutionResultRequest) async throws {
        switch self {
        case .rest(let client): _ = try await client.reportExecutionResult(request)
        case .grpc(let client): _ = try await client.reportExecutionResult(request)
        }
    }

    /// Closes the poll's connection: a poll in flight fails.
    func close() async {
        switch self {
        case .rest(let client): await client.transport.connection.close()
        case .grpc(let client): client.transport.shutdown()
        }
    }
}
