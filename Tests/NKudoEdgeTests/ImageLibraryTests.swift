import Foundation
import NKudoPKI
@testable import NKudoEdge
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Images come only from the agent's image directories and cache, by name or digest
/// (issue 11, point 2): the content-addressed cache, and every way a plan or a symlink
/// could point the agent at a file of the host.
@Suite("Image library")
struct ImageLibraryTests {
    static func mode(_ path: String) throws -> Int {
        try #require(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
    }

    @Test("cache entries are keyed by content and private (0600); a changed image gets a new entry")
    func keyedByContent() throws {
        let sandbox = try CloudHypervisorSandbox()
        let provider = try sandbox.provider()
        let first = Data((0..<300_000).map { UInt8(truncatingIfNeeded: $0) })
        let source = try sandbox.image("base.qcow2", first)
        chmod(source, 0o644)
        let entry = try provider.images.cachedCopy(of: .name("base.qcow2"), field: "image")
        #expect(URL(fileURLWithPath: entry.path).lastPathComponent == "\(Digest.sha256Hex(Array(first))).qcow2")
        #expect(entry.fileExtension == "qcow2")
        #expect(FileManager.default.contents(atPath: entry.path) == first)
        #expect(try Self.mode(entry.path) == 0o600)
        #expect(try provider.images.cachedCopy(of: .name("base.qcow2"), field: "image") == entry)
        #expect(try provider.images.cachedCopy(of: .digest(entry.digest), field: "image") == entry)

        try Data("changed".utf8).write(to: URL(fileURLWithPath: source))
        let changed = try provider.images.cachedCopy(of: .name("base.qcow2"), field: "image")
        #expect(changed != entry)
        #expect(FileManager.default.contents(atPath: changed.path) == Data("changed".utf8))
        #expect(FileManager.default.contents(atPath: entry.path) == first)
    }

    @Test("a digest finds an image of the directories that is not cached yet; an unknown one is not found")
    func digestLookup() throws {
        let sandbox = try CloudHypervisorSandbox()
        let provider = try sandbox.provider()
        let content = Data(repeating: 3, count: 5000)
        try sandbox.image("kernel-6.1", content)
        let digest = Digest.sha256Hex(Array(content))
        let found = try provider.images.cachedCopy(of: .digest(digest), field: "kernel")
        #expect(found.digest == digest && FileManager.default.contents(atPath: found.path) == content)
        let error = #expect(throws: ProviderError.self) {
            try provider.images.cachedCopy(of: .digest(String(repeating: "0", count: 64)), field: "kernel")
        }
        #expect(error?.code == .notFound)
    }

    @Test("a temp file of an interrupted fill is never used and is removed")
    func partialFileIgnored() throws {
        let sandbox = try CloudHypervisorSandbox()
        let provider = try sandbox.provider()
        let content = Data(repeating: 7, count: 100_000)
        try sandbox.image("base.raw", content)
        let digest = Digest.sha256Hex(Array(content))
        try FileManager.default.createDirectory(atPath: sandbox.cacheDirectory, withIntermediateDirectories: true)
        let partial = "\(sandbox.cacheDirectory)/\(FileOperations.temporaryPrefix)staging-\(digest)"
        try content.prefix(10).write(to: URL(fileURLWithPath: partial))
        let entry = try provider.images.cachedCopy(of: .name("base.raw"), field: "image")
        #expect(FileManager.default.contents(atPath: entry.path) == content)
        #expect(!FileManager.default.fileExists(atPath: partial))
        #expect(try FileManager.default.contentsOfDirectory(atPath: sandbox.cacheDirectory) == ["\(digest).raw"])
    }

    @Test("plan references that are paths or not image names are refused", arguments: [
        "/var/lib/nkudo-edge/pki/client.key", "../pki/client.key", "..", ".", ".hidden", "a/b", "", "x y", "sha256:abc",
        "sha256:" + String(repeating: "A", count: 64), "x;rm -rf /", "image\n",
    ])
    func hostileReferences(_ text: String) {
        let error = #expect(throws: ProviderError.self) { try ImageReference(text, field: "rootfs_path") }
        #expect(error?.code == .invalidArgument)
    }

    @Test("symlinks out of the image directory, into the agent's PKI or state, and non-regular files are refused; nothing is created")
    func hostileImageDirectory() async throws {
        let sandbox = try CloudHypervisorSandbox()
        let provider = try sandbox.provider()
        let key = "\(sandbox.pkiDirectory)/client.key"
        try Data("-----BEGIN PRIVATE KEY-----".utf8).write(to: URL(fileURLWithPath: key))
        try Data("state".utf8).write(to: URL(fileURLWithPath: "\(sandbox.stateDirectory)/state.sqlite"))
        symlink(key, "\(sandbox.imageDirectory)/key.raw")
        symlink("\(sandbox.stateDirectory)/state.sqlite", "\(sandbox.imageDirectory)/state.raw")
        symlink("/etc/passwd", "\(sandbox.imageDirectory)/passwd.raw")
        mkfifo("\(sandbox.imageDirectory)/fifo.raw", 0o600)
        try FileManager.default.createDirectory(atPath: "\(sandbox.imageDirectory)/dir.raw", withIntermediateDirectories: true)
        let id = try VMID("vm-hostile")
        for name in ["key.raw", "state.raw", "passwd.raw", "fifo.raw", "dir.raw"] {
            let error = await #expect(throws: ProviderError.self) { try await provider.create(MicroVMSpec(id: id, image: .name(name))) }
            #expect(error?.code == .invalidArgument, "\(name): \(error?.message ?? "")")
            #expect(!FileManager.default.fileExists(atPath: provider.directory(of: id)), "\(name): nothing is created")
        }
        // An operator's image directory that holds the agent's own directories: still refused.
        let wide = try sandbox.provider { $0.imageDirectories = [sandbox.root] }
        symlink(key, "\(sandbox.root)/key.raw")
        let protected = await #expect(throws: ProviderError.self) { try await wide.create(MicroVMSpec(id: id, image: .name("key.raw"))) }
        #expect(protected?.message.contains("agent's own directory") == true, "\(protected?.message ?? "")")
        // The key's digest does not find it either: only the image directories are searched.
        let byDigest = await #expect(throws: ProviderError.self) {
            try await provider.create(MicroVMSpec(id: id, kernel: .digest(Digest.sha256Hex(Array("-----BEGIN PRIVATE KEY-----".utf8)))))
        }
        #expect(byDigest?.code == .notFound)
        let cached = (try? FileManager.default.contentsOfDirectory(atPath: sandbox.cacheDirectory)) ?? []
        #expect(cached.isEmpty, "nothing of the host reached the cache: \(cached)")
    }

    @Test("a symlink to a file inside the image directory is fine; create clones by name or digest into a private disk")
    func createClonesImages() async throws {
        let sandbox = try CloudHypervisorSandbox()
        let provider = try sandbox.provider()
        let content = Data(repeating: 1, count: 4096)
        try sandbox.image("ubuntu-24.04.raw", content)
        symlink("ubuntu-24.04.raw", "\(sandbox.imageDirectory)/ubuntu.raw")
        let id = try VMID("vm-image")
        let state = try await provider.create(MicroVMSpec(id: id, image: .name("ubuntu.raw")))
        #expect(state.diskPath == "\(provider.directory(of: id))/disk.raw")
        #expect(FileManager.default.contents(atPath: state.diskPath) == content)
        #expect(try Self.mode(state.diskPath) == 0o600)
        #expect(try Self.mode(provider.directory(of: id)) == 0o700)
        let byDigest = try VMID("vm-digest")
        let cloned = try await provider.create(MicroVMSpec(id: byDigest, image: .digest(Digest.sha256Hex(Array(content)))))
        #expect(FileManager.default.contents(atPath: cloned.diskPath) == content)

        let missing = try VMID("vm-missing")
        let error = await #expect(throws: ProviderError.self) { try await provider.create(MicroVMSpec(id: missing, image: .name("nope.raw"))) }
        #expect(error?.code == .notFound)
        #expect(!FileManager.default.fileExists(atPath: provider.directory(of: missing)))
    }

    @Test("kernel arguments come from the allow-list; anything else is refused before anything is created")
    func kernelArguments() async throws {
        let sandbox = try CloudHypervisorSandbox()
        let provider = try sandbox.provider()
        try sandbox.image("vmlinux", Data(repeating: 9, count: 1024))
        #expect(try KernelArguments.validated(["console=ttyS0", " quiet ", "", "ip=10.0.0.2::10.0.0.1:255.255.255.0::eth0:off"],
                                              allowedKeys: KernelArguments.defaultAllowedKeys)
                == ["console=ttyS0", "quiet", "ip=10.0.0.2::10.0.0.1:255.255.255.0::eth0:off"])
        for hostile in ["init=/bin/sh", "console=ttyS0 init=/bin/sh", "--", "root=\"/dev/vda\"", "quiet;reboot", "panic=1\nx=1", "=x"] {
            let id = try VMID("vm-args")
            let error = await #expect(throws: ProviderError.self) {
                try await provider.create(MicroVMSpec(id: id, kernel: .name("vmlinux"), kernelArguments: [hostile]))
            }
            #expect(error?.code == .invalidArgument, "\(hostile)")
            #expect(!FileManager.default.fileExists(atPath: provider.directory(of: id)))
        }
    }
}
