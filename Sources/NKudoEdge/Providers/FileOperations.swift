import NKudoPKI
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Durable file operations of the provider: atomic writes, copies with fsync.
enum FileOperations {
    private static let chunkSize = 1 << 20

    /// Writes `data` to `path` atomically: a unique temp file in the same directory,
    /// fsync, rename over `path`, fsync of the directory.
    static func writeAtomically(_ data: Data, to path: String, mode: Int = 0o644) throws(ProviderError) {
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

    /// Copies `source` to `destination` atomically (temp + fsync + rename), feeding
    /// every byte read to `observe`. A crash leaves at most a temp file, never a
    /// truncated `destination`.
    static func copyAtomically(from source: String, to destination: String,
                               observe: (ArraySlice<UInt8>) -> Void = { _ in }) throws(ProviderError) {
        let temp = temporaryPath(beside: destination)
        do {
            let input = try FileHandle(forReadingFrom: URL(fileURLWithPath: source))
            defer { try? input.close() }
            guard FileManager.default.createFile(atPath: temp, contents: nil, attributes: [.posixPermissions: 0o644]) else {
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

    /// SHA-256 of the file at `path`, as lowercase hex, read in chunks.
    static func sha256(ofFile path: String) throws(ProviderError) -> String {
        do {
            let input = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
            defer { try? input.close() }
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
            guard FileManager.default.createFile(atPath: temp, contents: nil, attributes: [.posixPermissions: 0o644]) else {
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

    /// Creates `path` and its parents with mode 0755.
    static func createDirectory(_ path: String) throws(ProviderError) {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o755])
        } catch {
            throw providerError(error, "create directory \(path)")
        }
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
}
