import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The data directory (`NKUDO_DATA_DIR`): the SQLite database, the generated PKI and the
/// admin key live there, so nobody but the control plane's user may list or enter it.
enum DataDirectory {
    /// Creates the directory with mode 0700, or narrows an existing one that grants group
    /// or other users any access to its owner's access, with a notice (PostgreSQL refuses such a data
    /// directory; narrowing it keeps `serve` working after an upgrade).
    ///
    /// - Throws: ``ConfigurationError`` when the path is not a directory or cannot be
    ///   created or narrowed.
    static func prepare(_ path: String, logger: Logger) throws(ConfigurationError) {
        // FileManager, not stat(2): with zlib's C module in the build (gzip of the Connect and
        // gRPC protocols) clang attributes libc's `struct stat` to another module in release
        // builds, which MemberImportVisibility then refuses.
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            do {
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            } catch {
                throw ConfigurationError(setting: "NKUDO_DATA_DIR", reason: "cannot create \(path): \(whyNotCreated(path, error))")
            }
            return
        }
        guard isDirectory.boolValue else {
            throw ConfigurationError(setting: "NKUDO_DATA_DIR", reason: "\(path) is not a directory")
        }
        let permissions: Int
        do {
            permissions = (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue ?? 0
        } catch {
            throw ConfigurationError(setting: "NKUDO_DATA_DIR", reason: "cannot read the mode of \(path): \(error.localizedDescription)")
        }
        let mode = permissions & 0o777
        guard mode & 0o077 != 0 else { return }
        // The owner's bits stay as they are (0555 becomes 0500, not a writable 0700).
        let narrowed = mode & 0o700
        guard chmod(path, mode_t(narrowed)) == 0 else {
            throw ConfigurationError(setting: "NKUDO_DATA_DIR",
                                     reason: "\(path) has mode \(String(mode, radix: 8)), open to other users, and cannot be narrowed to \(String(narrowed, radix: 8)): \(String(cString: strerror(errno)))")
        }
        logger.notice("data directory was open to other users; narrowed to the owner's access",
                      metadata: [ControlPlaneLogKey.path: .string(path), ControlPlaneLogKey.previousMode: .string(String(mode, radix: 8))])
    }

    /// Why `path` could not be created: the nearest existing ancestor that is not a
    /// directory or cannot be written, else the system's reason.
    private static func whyNotCreated(_ path: String, _ error: any Error) -> String {
        var ancestor = (path as NSString).deletingLastPathComponent
        while !ancestor.isEmpty, ancestor != "/", !FileManager.default.fileExists(atPath: ancestor) {
            ancestor = (ancestor as NSString).deletingLastPathComponent
        }
        var isDirectory: ObjCBool = false
        if !ancestor.isEmpty, FileManager.default.fileExists(atPath: ancestor, isDirectory: &isDirectory) {
            if !isDirectory.boolValue { return "\(ancestor) is not a directory" }
            if !FileManager.default.isWritableFile(atPath: ancestor) { return "\(ancestor) is not writable" }
        }
        return error.localizedDescription
    }
}
