import Foundation
@testable import NKudoEdge
import Testing

@Suite("Cloud Hypervisor base-image cache")
struct CloudHypervisorImageCacheTests {
    @Test("entries are keyed by content; a changed source gets a new entry")
    func keyedByContent() throws {
        let sandbox = try CloudHypervisorSandbox()
        let cache = ImageCache(directory: sandbox.imageDirectory)
        let source = "\(sandbox.root)/base.qcow2"
        let first = Data((0..<300_000).map { UInt8(truncatingIfNeeded: $0) })
        try first.write(to: URL(fileURLWithPath: source))
        let entry = try cache.entry(for: source)
        #expect(URL(fileURLWithPath: entry).lastPathComponent == "\(try FileOperations.sha256(ofFile: source)).qcow2")
        #expect(FileManager.default.contents(atPath: entry) == first)
        #expect(try cache.entry(for: source) == entry)

        try Data("changed".utf8).write(to: URL(fileURLWithPath: source))
        let changed = try cache.entry(for: source)
        #expect(changed != entry)
        #expect(FileManager.default.contents(atPath: changed) == Data("changed".utf8))
        #expect(FileManager.default.contents(atPath: entry) == first)
    }

    @Test("a truncated temp file from an interrupted fill is never used")
    func partialFileIgnored() throws {
        let sandbox = try CloudHypervisorSandbox()
        let cache = ImageCache(directory: sandbox.imageDirectory)
        let source = "\(sandbox.root)/base.raw"
        let content = Data(repeating: 7, count: 100_000)
        try content.write(to: URL(fileURLWithPath: source))
        let digest = try FileOperations.sha256(ofFile: source)
        try FileManager.default.createDirectory(atPath: sandbox.imageDirectory, withIntermediateDirectories: true)
        let partial = "\(sandbox.imageDirectory)/\(FileOperations.temporaryPrefix)staging-\(digest)"
        try content.prefix(10).write(to: URL(fileURLWithPath: partial))
        let entry = try cache.entry(for: source)
        #expect(FileManager.default.contents(atPath: entry) == content)
        #expect(!FileManager.default.fileExists(atPath: partial))
        let names = try FileManager.default.contentsOfDirectory(atPath: sandbox.imageDirectory)
        #expect(names == ["\(digest).raw"])
    }

    @Test("create clones the cached image into the VM's own disk; missing or directory sources fail and roll back")
    func createUsesCache() async throws {
        let sandbox = try CloudHypervisorSandbox()
        let provider = try sandbox.provider()
        let source = "\(sandbox.root)/ubuntu.raw"
        try Data(repeating: 1, count: 4096).write(to: URL(fileURLWithPath: source))
        let id = try VMID("vm-image")
        let state = try await provider.create(MicroVMSpec(id: id, sourceImagePath: source))
        #expect(state.diskPath == "\(provider.directory(of: id))/disk.raw")
        #expect(FileManager.default.contents(atPath: state.diskPath) == Data(repeating: 1, count: 4096))

        let missing = try VMID("vm-missing")
        await #expect(throws: ProviderError.self) {
            try await provider.create(MicroVMSpec(id: missing, sourceImagePath: "\(sandbox.root)/nope.raw"))
        }
        #expect(!FileManager.default.fileExists(atPath: provider.directory(of: missing)))
        await #expect(throws: ProviderError.self) {
            try await provider.create(MicroVMSpec(id: missing, sourceImagePath: sandbox.root))
        }
    }
}
