import NKudoPKI
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Durable file operations of the provider: atomic writes, copies with fsync. Everything
/// the provider writes (disks, cached images, seeds, metadata) is readable by the agent's
/// user only (files 0600, directories 0700): a VM's disk may hold a tenant's secrets.
enum FileOperations {
    private static let chunkSize = 1 << 20

    /// Writes `data` to `path` atomically: a unique temp file in the same directory,
    /// fsync, rename over `path`, fsync of the directory.
    static func writeAtomically(_ data: Data, to path: String, mode: Int = 0o600) throws(ProviderError) {
        let temp = temporaryPath(beside: path)
        do {
            guard FileManager.default.createFile(atPath: temp, contents: nil, attributes: [.posixPermissions: mode]) else {
                throw ProviderError(.io, "cannot create \(temp)")
            }
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: temp))
            try handle.write(contentsOf: data)
            try handle.synchronize()
            try handle.close()
            try commit(temp, to: path)
        } catch {
            try? FileManager.default.removeItem(atPath: temp)
            throw providerError(error, "write \(path)")
        }
    }

    /// Copies `source` to `destination` (mode 0600) atomically (temp + fsync + rename),
    /// feeding every byte read to `observe`. A crash leaves at most a temp file, never a
    /// truncated `destination`.
    static func copyAtomically(from source: String, to destination: String,
                               observe: (ArraySlice<UInt8>) -> Void = { _ in }) throws(ProviderError) {
        let input: FileHandle
        do {
            input = try FileHandle(forReadingFrom: URL(fileURLWithPath: source))
        } catch {
            throw providerError(error, "open \(source)")
        }
        defer { try? input.close() }
        try copyAtomically(from: input, named: source, to: destination, observe: observe)
    }

    /// Copies what `input` reads to `destination` (mode 0600) atomically, as
    /// ``copyAtomically(from:to:observe:)``; `name` names the source in errors.
    static func copyAtomically(from input: FileHandle, named source: String, to destination: String,
                               observe: (ArraySlice<UInt8>) -> Void = { _ in }) throws(ProviderError) {
        let temp = temporaryPath(beside: destination)
        do {
            guard FileManager.default.createFile(atPath: temp, contents: nil, attributes: [.posixPermissions: 0o600]) else {
                throw ProviderError(.io, "cannot create \(temp)")
            }
            let output = try FileHandle(forWritingTo: URL(fileURLWithPath: temp))
            while let chunk = try input.read(upToCount: chunkSize), !chunk.isEmpty {
                observe(ArraySlice(chunk))
                try output.write(contentsOf: chunk)
            }
            try output.synchronize()
            try output.close()
            try commit(temp, to: destination)
        } catch {
            try? FileManager.default.removeItem(atPath: temp)
            throw providerError(error, "copy \(source) to \(destination)")
        }
    }

    /// SHA-256 of what `input` reads, as lowercase hex, read in chunks; `path` names it in errors.
    static func sha256(of input: FileHandle, path: String) throws(ProviderError) -> String {
        do {
            let hasher = SHA256Hasher()
            while let chunk = try input.read(upToCount: chunkSize), !chunk.isEmpty {
                hasher.update(chunk)
            }
            return hasher.finalizeHex()
        } catch {
            throw providerError(error, "read \(path)")
        }
    }

    /// Creates a sparse file of `sizeMiB` MiB at `path` atomically.
    static func createSparseFile(at path: String, sizeMiB: Int) throws(ProviderError) {
        let temp = temporaryPath(beside: path)
        do {
            guard FileManager.default.createFile(atPath: temp, contents: nil, attributes: [.posixPermissions: 0o600]) else {
                throw ProviderError(.io, "cannot create \(temp)")
            }
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: temp))
            try handle.truncate(atOffset: UInt64(sizeMiB) << 20)
            try handle.synchronize()
            try handle.close()
            try commit(temp, to: path)
        } catch {
            try? FileManager.default.removeItem(atPath: temp)
            throw providerError(error, "create empty disk \(path)")
        }
    }

    /// Creates `path` and its parents with mode 0700.
    static func createDirectory(_ path: String) throws(ProviderError) {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } catch {
            throw providerError(error, "create directory \(path)")
        }
    }

    /// The absolute path of `path` with every symlink, `.` and `..` resolved (`realpath`);
    /// nil when it does not exist or cannot be resolved.
    static func canonicalPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// Opens the regular file at `path` for reading without following a symlink in its
    /// last component (`O_NOFOLLOW`), and checks on the open file that it is regular: a
    /// path swapped for a symlink or a device after it was checked is refused.
    static func openRegularFile(_ path: String) throws(ProviderError) -> FileHandle {
        let descriptor = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        guard descriptor >= 0 else {
            throw ProviderError(.io, "open \(path): \(String(cString: strerror(errno)))")
        }
        var status = stat()
        guard fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFREG else {
            close(descriptor)
            throw ProviderError(.invalidArgument, "\(path) is not a regular file")
        }
        return FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
    }

    /// Whether `path` exists (without following a final symlink) and what it is.
    static func fileType(_ path: String) -> FileAttributeType? {
        (try? FileManager.default.attributesOfItem(atPath: path))?[.type] as? FileAttributeType
    }

    /// Name prefix of temp files: never a valid cache key or VM file name.
    static let temporaryPrefix = ".partial-"

    private static func temporaryPath(beside path: String) -> String {
        let url = URL(fileURLWithPath: path)
        return url.deletingLastPathComponent()
            .appendingPathComponent("\(temporaryPrefix)\(UUID().uuidString)-\(url.lastPathComponent)").path
    }

    private static func commit(_ temp: String, to path: String) throws(ProviderError) {
        guard rename(temp, path) == 0 else {
            throw ProviderError(.io, "rename \(temp) to \(path): \(String(cString: strerror(errno)))")
        }
        let directory = open(URL(fileURLWithPath: path).deletingLastPathComponent().path, O_RDONLY | O_DIRECTORY)
        if directory >= 0 {
            fsync(directory)
            close(directory)
        }
    }

    private static func providerError(_ error: any Error, _ what: String) -> ProviderError {
        if let error = error as? ProviderError {
            return error
        }
        return ProviderError(.io, "\(what): \(error)")
    }

    /// The last 512 bytes of the text file at `path`, trimmed; `no output` when there are none.
    static func tail(of path: String) -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            return "no output"
        }
        let text = String(decoding: data.suffix(512), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? "no output" : text
    }
}
