import Foundation
public import NKudoContract
import NKudoPKI
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The images a plan may use (disks, kernels), and the content-addressed cache VMs use
/// them from. The agent trusts itself only: a plan names an image, it never gives a path.
///
/// - By name: a regular file directly inside one of ``directories`` (searched in order)
///   whose real path (symlinks, `.` and `..` resolved) stays inside that directory and
///   outside every one of ``protectedDirectories`` (the agent's state, PKI and runtime
///   directories). A symlink inside a directory to a file inside it is fine; one that
///   leads out is refused.
/// - By digest (`sha256:…`): the cache entry of that content, else a file of the
///   directories with that content.
///
/// The chosen file is opened without following a symlink in its last component and
/// checked to be regular on the open descriptor, then copied, and hashed on the way, into
/// the cache: `<cache>/<sha256>[.<ext>]`, mode 0600, filled atomically (a crash leaves a
/// `.partial-` file that is never looked up and is removed on the next fill). An entry
/// never changes, so a changed image gets a new entry and VMs never see a half-written one.
/// The image directories are the operator's: an image file that someone swaps while it is
/// copied is copied as it was read.
public final class ImageLibrary: Sendable {
    /// Where images are looked up by name, in order.
    public let directories: [String]
    /// The content-addressed cache.
    public let cacheDirectory: String
    /// Directories no image may lie in, whatever an image directory's symlinks say.
    public let protectedDirectories: [String]
    private let digests = Mutex<[FileIdentity: String]>([:])

    /// An image in the cache.
    public struct CachedImage: Sendable, Hashable {
        /// The cache entry's path.
        public let path: String
        /// SHA-256 of its content, lower-case hex.
        public let digest: String
        /// The lower-case extension of the image's name (`qcow2`, `raw`, …), empty when none.
        public let fileExtension: String
    }

    /// A file as the kernel identifies it: the digest of an unchanged file is not computed twice.
    private struct FileIdentity: Hashable {
        let device: UInt64
        let inode: UInt64
        let size: Int64
        let modifiedSeconds: Int
        let modifiedNanoseconds: Int
    }

    /// A library over `directories`, caching into `cacheDirectory`, refusing anything
    /// inside `protectedDirectories`.
    public init(directories: [String], cacheDirectory: String, protectedDirectories: [String]) {
        self.directories = directories
        self.cacheDirectory = cacheDirectory
        self.protectedDirectories = protectedDirectories
    }

    /// The cached copy of the image `reference` names; `field` names the reference in errors.
    ///
    /// - Throws: ``ProviderError/Code/notFound`` when no image has that name or digest,
    ///   ``ProviderError/Code/invalidArgument`` when the named file leads outside its
    ///   directory, into a protected one, or is not a regular file.
    public func cachedCopy(of reference: ImageReference, field: String) throws(ProviderError) -> CachedImage {
        switch reference {
        case .name(let name):
            for directory in directories where FileOperations.fileType("\(directory)/\(name)") != nil {
                let path = try admitted(name, in: directory, field: field)
                return try cache(path, extensionOf: name)
            }
            throw ProviderError(.notFound, "\(field) \(name): no such image in the image directories (\(directories.joined(separator: ", ")))")
        case .digest(let hex):
            if let entry = cacheEntry(digest: hex) {
                return entry
            }
            for directory in directories {
                let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
                for name in names where !name.hasPrefix(".") {
                    guard let path = try? admitted(name, in: directory, field: field), digest(of: path) == hex else { continue }
                    return try cache(path, extensionOf: name)
                }
            }
            throw ProviderError(.notFound, "\(field) sha256:\(hex): no image with this digest on this host")
        }
    }

    /// The images plans may name: the regular files of the directories (the first of a
    /// name wins, hidden and refused ones left out) and the cache entries none of them has
    /// (named by their digest), by name. Digests are computed once per unchanged file.
    public func catalog() -> [Image] {
        var images: [String: Image] = [:]
        var digestsSeen: Set<String> = []
        for directory in directories {
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
            for name in names where !name.hasPrefix(".") && images[name] == nil {
                guard (try? ImageReference(name, field: "image")) != nil, let path = try? admitted(name, in: directory, field: "image"),
                      FileOperations.fileType(path) == .typeRegular, let digest = digest(of: path) else { continue }
                images[name] = Image(name: name, digest: "sha256:\(digest)", sizeBytes: Self.size(of: path), kind: Self.kind(of: name))
                digestsSeen.insert(digest)
            }
        }
        let cached = (try? FileManager.default.contentsOfDirectory(atPath: cacheDirectory)) ?? []
        for name in cached where !name.hasPrefix(FileOperations.temporaryPrefix) {
            let digest = String(name.prefix { $0 != "." })
            guard digest.utf8.count == 64, !digestsSeen.contains(digest), FileOperations.fileType("\(cacheDirectory)/\(name)") == .typeRegular
            else { continue }
            digestsSeen.insert(digest)
            images["sha256:\(digest)"] = Image(name: "sha256:\(digest)", digest: "sha256:\(digest)",
                                               sizeBytes: Self.size(of: "\(cacheDirectory)/\(name)"), kind: Self.kind(of: name))
        }
        return images.values.sorted { $0.name < $1.name }
    }

    /// What an image is for, by its name: kernels (`vmlinuz*`, `vmlinux*`, `bzImage*`,
    /// `*kernel*`), initial ramdisks (`initrd*`, `initramfs*`, `*.cpio*`), else disks.
    static func kind(of name: String) -> Image.Kind {
        let lower = name.lowercased()
        if lower.hasPrefix("vmlinuz") || lower.hasPrefix("vmlinux") || lower.hasPrefix("bzimage") || lower.contains("kernel")
            || lower.contains("vmlinuz") {
            return .kernel
        }
        if lower.hasPrefix("initrd") || lower.hasPrefix("initramfs") || lower.contains(".cpio") || lower.contains("initrd") {
            return .initrd
        }
        return .disk
    }

    private static func size(of path: String) -> Int64 {
        var status = stat()
        return stat(path, &status) == 0 ? Int64(status.st_size) : 0
    }

    // MARK: Resolving

    /// The real path of `directory/name` after the checks of the type's documentation.
    private func admitted(_ name: String, in directory: String, field: String) throws(ProviderError) -> String {
        guard let root = FileOperations.canonicalPath(directory) else {
            throw ProviderError(.notFound, "image directory \(directory) does not exist")
        }
        guard let path = FileOperations.canonicalPath("\(directory)/\(name)") else {
            throw ProviderError(.notFound, "\(field) \(name): no such image")
        }
        guard path.hasPrefix(root == "/" ? "/" : root + "/") else {
            throw ProviderError(.invalidArgument, "\(field) \(name) leads outside the image directory \(directory); refused")
        }
        for protected in protectedDirectories {
            guard let forbidden = FileOperations.canonicalPath(protected) else { continue }
            if path == forbidden || path.hasPrefix(forbidden + "/") {
                throw ProviderError(.invalidArgument, "\(field) \(name) lies in the agent's own directory \(protected); refused")
            }
        }
        return path
    }

    /// The digest of the regular file at `path`, nil when it cannot be read.
    private func digest(of path: String) -> String? {
        guard let handle = try? FileOperations.openRegularFile(path) else { return nil }
        defer { try? handle.close() }
        let identity = Self.identity(of: handle)
        if let identity, let known = digests.withLock({ $0[identity] }) {
            return known
        }
        guard let digest = try? FileOperations.sha256(of: handle, path: path) else { return nil }
        if let identity { digests.withLock { $0[identity] = digest } }
        return digest
    }

    // MARK: The cache

    /// The cache entry of the regular file at `path`, filled from it when there is none.
    private func cache(_ path: String, extensionOf name: String) throws(ProviderError) -> CachedImage {
        let handle = try FileOperations.openRegularFile(path)
        defer { try? handle.close() }
        let identity = Self.identity(of: handle)
        if let identity, let known = digests.withLock({ $0[identity] }), let entry = cacheEntry(digest: known) {
            return entry
        }
        try FileOperations.createDirectory(cacheDirectory)
        removePartialFiles()
        let hasher = SHA256Hasher()
        let staging = "\(cacheDirectory)/\(FileOperations.temporaryPrefix)staging-\(UUID().uuidString)"
        try FileOperations.copyAtomically(from: handle, named: path, to: staging) { hasher.update($0) }
        let digest = hasher.finalizeHex()
        let fileExtension = Self.safeExtension(of: name)
        let entry = "\(cacheDirectory)/\(digest)\(fileExtension.isEmpty ? "" : ".\(fileExtension)")"
        if FileOperations.fileType(entry) == .typeRegular {
            unlink(staging)
        } else if rename(staging, entry) != 0 {
            let reason = String(cString: strerror(errno))
            unlink(staging)
            throw ProviderError(.io, "cache image \(path): cannot rename into \(entry): \(reason)")
        }
        if let identity { digests.withLock { $0[identity] = digest } }
        return CachedImage(path: entry, digest: digest, fileExtension: fileExtension)
    }

    /// The regular cache entry of `digest` (`<digest>` or `<digest>.<ext>`), nil when none.
    private func cacheEntry(digest: String) -> CachedImage? {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: cacheDirectory)) ?? []
        for name in names.sorted() where name == digest || name.hasPrefix(digest + ".") {
            let path = "\(cacheDirectory)/\(name)"
            guard FileOperations.fileType(path) == .typeRegular else { continue }
            chmod(path, 0o600)
            return CachedImage(path: path, digest: digest, fileExtension: String(name.dropFirst(digest.count).drop { $0 == "." }))
        }
        return nil
    }

    private func removePartialFiles() {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: cacheDirectory)) ?? []
        for name in names where name.hasPrefix(FileOperations.temporaryPrefix) {
            unlink("\(cacheDirectory)/\(name)")
        }
    }

    /// The lower-case extension of `name` when it is made of safe characters, else empty.
    private static func safeExtension(of name: String) -> String {
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return "" }
        let fileExtension = name[name.index(after: dot)...].lowercased()
        return !fileExtension.isEmpty && fileExtension.utf8.allSatisfy(VMID.isSafe) ? fileExtension : ""
    }

    private static func identity(of handle: FileHandle) -> FileIdentity? {
        var status = stat()
        guard fstat(handle.fileDescriptor, &status) == 0 else { return nil }
        return FileIdentity(device: UInt64(status.st_dev), inode: UInt64(status.st_ino), size: Int64(status.st_size),
                            modifiedSeconds: Int(status.st_mtim.tv_sec), modifiedNanoseconds: Int(status.st_mtim.tv_nsec))
    }
}
