import Foundation
@testable import NKudoEdge
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// TAP devices with the real `ip`, inside a network namespace the test creates.
@Suite("Cloud Hypervisor TAP devices in a network namespace", .serialized)
struct CloudHypervisorNetworkTests {
    static let isRoot = geteuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip")
        && FileManager.default.fileExists(atPath: "/dev/net/tun")

    /// Runs `ip args`, returning the exit status and output.
    @discardableResult
    static func ip(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
    }

    /// A namespace with bridge `br0`, and an `ip` wrapper that runs inside it.
    static func withNamespace(_ body: (_ sandbox: CloudHypervisorSandbox, _ namespace: String, _ ipWrapper: String) async throws -> Void) async throws {
        let sandbox = try CloudHypervisorSandbox()
        let namespace = "nkch-\(UUID().uuidString.prefix(8))"
        #expect(try ip(["netns", "add", namespace]).status == 0)
        defer { _ = try? ip(["netns", "del", namespace]) }
        #expect(try ip(["-n", namespace, "link", "add", "br0", "type", "bridge"]).status == 0)
        let wrapper = "\(sandbox.root)/ip"
        try "#!/bin/sh\nexec /usr/sbin/ip -n \(namespace) \"$@\"\n".write(toFile: wrapper, atomically: true, encoding: .utf8)
        chmod(wrapper, 0o755)
        try await body(sandbox, namespace, wrapper)
    }

    @Test("create adds the TAP to the bridge, start passes it, delete removes it", .enabled(if: isRoot, "needs root, ip and /dev/net/tun"))
    func tapLifecycle() async throws {
        try await Self.withNamespace { sandbox, namespace, wrapper in
            let provider = try sandbox.provider {
                $0.networking = .tap
                $0.ipBinary = wrapper
            }
            let id = try VMID("vm-net")
            let state = try await provider.create(MicroVMSpec(id: id))
            #expect(state.tapName == TAPName.derived(from: id))
            let link = try Self.ip(["-n", namespace, "link", "show", state.tapName])
            #expect(link.status == 0)
            #expect(link.output.contains("master br0"))
            _ = try await provider.start(id)
            defer { sandbox.killAll() }
            let argv = try #require(sandbox.launches().first)
            #expect(argv.contains("tap=\(state.tapName),mac=\(TAPName.mac(for: id))"))
            try await provider.delete(id)
            #expect(try Self.ip(["-n", namespace, "link", "show", state.tapName]).status != 0)
        }
    }

    @Test("a TAP whose bridge attach fails is rolled back", .enabled(if: isRoot, "needs root, ip and /dev/net/tun"))
    func tapRollback() async throws {
        try await Self.withNamespace { sandbox, namespace, wrapper in
            let provider = try sandbox.provider {
                $0.networking = .tap
                $0.ipBinary = wrapper
                $0.bridgeName = "nobridge0"
            }
            let id = try VMID("vm-rollback")
            let error = await #expect(throws: ProviderError.self) { try await provider.create(MicroVMSpec(id: id)) }
            #expect(error?.message.contains("setup tap") == true)
            #expect(try Self.ip(["-n", namespace, "link", "show", TAPName.derived(from: id)]).status != 0)
            #expect(!FileManager.default.fileExists(atPath: provider.directory(of: id)))
        }
    }

    @Test("issue 11: an interface the agent did not create is never enslaved or deleted, even with the VM's TAP name",
          .enabled(if: isRoot, "needs root, ip and /dev/net/tun"))
    func foreignInterfaceIsLeftAlone() async throws {
        try await Self.withNamespace { sandbox, namespace, wrapper in
            let provider = try sandbox.provider {
                $0.networking = .tap
                $0.ipBinary = wrapper
            }
            let id = try VMID("vm-foreign")
            let name = TAPName.derived(from: id)
            // Someone else's TAP device that happens to carry the name.
            #expect(try Self.ip(["-n", namespace, "tuntap", "add", "dev", name, "mode", "tap"]).status == 0)
            let error = await #expect(throws: ProviderError.self) { try await provider.create(MicroVMSpec(id: id)) }
            #expect(error?.message.contains("was not created by this agent") == true, "\(error?.message ?? "")")
            let link = try Self.ip(["-n", namespace, "link", "show", name])
            #expect(link.status == 0, "the interface is still there")
            #expect(!link.output.contains("master br0"), "and not enslaved: \(link.output)")
            #expect(!FileManager.default.fileExists(atPath: provider.directory(of: id)))

            // A VM whose own TAP was replaced by a foreign interface: DELETE leaves that alone.
            let owned = try VMID("vm-owned")
            let state = try await provider.create(MicroVMSpec(id: owned))
            #expect(try Self.ip(["-n", namespace, "link", "show", state.tapName]).output.contains("alias nkudo-vm:vm-owned"))
            #expect(try Self.ip(["-n", namespace, "link", "del", state.tapName]).status == 0)
            #expect(try Self.ip(["-n", namespace, "tuntap", "add", "dev", state.tapName, "mode", "tap"]).status == 0)
            try await provider.delete(owned)
            #expect(try Self.ip(["-n", namespace, "link", "show", state.tapName]).status == 0, "the foreign interface survives DELETE")
        }
    }
}
