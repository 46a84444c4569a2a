import NKudoPKI
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Content-addressed cache of base images: an entry is named by the SHA-256 of the
/// source file's bytes (plus the source's extension), so a changed source gets a new
/// entry and an entry is never stale. Entries are filled atomically (temp + fsync +
/// rename): a crash leaves a `.partial-` temp file that is never looked up and is
/// removed on the next fill.
struct ImageCache {
    /// The cache directory.
    var directory: String

    /// The cache entry holding `source`'s current content, filling it if needed.
    func entry(for source: String) throws(ProviderError) -> String {
        guard let type = FileOperations.fileType(source) else {
            throw ProviderError(.notFound, "source disk \(source) does not exist")
        }
        guard type != .typeDirectory else {
            throw ProviderError(.invalidArgument, "source disk path is a directory: \(source)")
        }
        try FileOperations.createDirectory(directory)
        let digest = try FileOperations.sha256(ofFile: source)
        let path = entryPath(digest: digest, source: source)
        if FileOperations.fileType(path) == .typeRegular {
            return path
        }
        removePartialFiles()
        let hasher = SHA256Hasher()
        let staging = "\(directory)/\(FileOperations.temporaryPrefix)staging-\(digest)"
        try FileOperations.copyAtomically(from: source, to: staging) { hasher.update($0) }
        let copied = hasher.finalizeHex()
        let final = entryPath(digest: copied, source: source)
        guard rename(staging, final) == 0 else {
            try? FileManager.default.removeItem(atPath: staging)
            throw ProviderError(.io, "cache base image \(source): cannot rename into \(final)")
        }
        return final
    }

    /// The entry name for content `digest` of `source`: `<sha256>.<ext>`.
    func entryPath(digest: String, source: String) -> String {
        let ext = URL(fileURLWithPath: source).pathExtension.lowercased()
        let safeExt = ext.utf8.allSatisfy(VMID.isSafe) && !ext.isEmpty ? ".\(ext)" : ""
        return "\(directory)/\(digest)\(safeExt)"
    }

    private func removePartialFiles() {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        for name in names where name.hasPrefix(FileOperations.temporaryPrefix) {
            try? FileManager.default.removeItem(atPath: "\(directory)/\(name)")
        }
    }
}
