import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// Client of Cloud Hypervisor's REST API (`/api/v1/…`) over the VMM's unix socket
/// (`--api-socket`), through AsyncHTTPClient's `http+unix://` URLs.
///
/// Every request keeps to Cloud Hypervisor's OpenAPI document (upstream
/// `vmm/src/api/openapi/cloud-hypervisor.yaml`; a copy is in the edge tests' fixtures and
/// `CloudHypervisorAPIConformanceTests` checks what this client sends against it): none
/// of the operations used here takes a request body, so none is sent and no
/// `Content-Type` either.
struct CloudHypervisorAPIClient: Sendable {
    /// The VM's state as `vm.info` reports it.
    enum VMState: String, Sendable {
        case created = "Created"
        case running = "Running"
        case shutdown = "Shutdown"
        case paused = "Paused"
    }

    /// The parts of `GET /api/v1/vm.info` the provider reads.
    struct VMInfo: Decodable, Sendable {
        var state: String
    }

    /// The parts of `GET /api/v1/vmm.ping` the provider reads.
    struct VMMPing: Decodable, Sendable {
        var version: String
        var pid: Int32?
    }

    var socketPath: String
    var httpClient: HTTPClient
    var timeout: Double

    /// `GET /api/v1/vmm.ping`.
    func ping() async throws(ProviderError) -> VMMPing {
        try decode(VMMPing.self, from: try await send(.GET, "vmm.ping"))
    }

    /// `GET /api/v1/vm.info`.
    func info() async throws(ProviderError) -> VMState? {
        let info = try decode(VMInfo.self, from: try await send(.GET, "vm.info"))
        return VMState(rawValue: info.state)
    }

    /// `PUT /api/v1/vm.boot`.
    func boot() async throws(ProviderError) {
        try await send(.PUT, "vm.boot")
    }

    /// `PUT /api/v1/vm.shutdown`: shuts the guest down; the VMM keeps running.
    func shutdownVM() async throws(ProviderError) {
        try await send(.PUT, "vm.shutdown")
    }

    /// `PUT /api/v1/vm.power-button`: presses the guest's ACPI power button, asking it to
    /// shut down cleanly. Returns once the VMM has passed the event on; the guest powers
    /// off when it is done (and Cloud Hypervisor then exits), or never if it ignores the
    /// button.
    func powerButton() async throws(ProviderError) {
        try await send(.PUT, "vm.power-button")
    }

    /// `PUT /api/v1/vmm.shutdown`: the VMM exits.
    func shutdownVMM() async throws(ProviderError) {
        try await send(.PUT, "vmm.shutdown")
    }

    @discardableResult
    private func send(_ method: HTTPMethod, _ endpoint: String) async throws(ProviderError) -> ByteBuffer {
        guard let url = URL(httpURLWithSocketPath: socketPath, uri: "/api/v1/\(endpoint)") else {
            throw ProviderError(.api, "invalid api socket path \(socketPath)")
        }
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = method
        request.headers.add(name: "Host", value: "localhost")
        request.headers.add(name: "Accept", value: "application/json")
        do {
            let response = try await httpClient.execute(request, timeout: .milliseconds(Int64(timeout * 1000)))
            let body = try await response.body.collect(upTo: 1 << 20)
            guard (200..<300).contains(response.status.code) else {
                let text = String(buffer: body).trimmingCharacters(in: .whitespacesAndNewlines)
                throw ProviderError(.api, "\(method) \(endpoint): \(response.status.code)\(text.isEmpty ? "" : " \(text)")")
            }
            return body
        } catch let error as ProviderError {
            throw error
        } catch {
            throw ProviderError(.api, "\(method) \(endpoint): \(error)")
        }
    }

    private func decode<T: Decodable>(_ type: T.Type, from body: ByteBuffer) throws(ProviderError) -> T {
        do {
            return try JSONDecoder().decode(type, from: Data(body.readableBytesView))
        } catch {
            throw ProviderError(.api, "decode \(type): \(error)")
        }
    }
}
