#if canImport(Glibc)
internal import Glibc
#elseif canImport(Darwin)
internal import Darwin
#endif

/// Reading and atomically writing PEM files.
///
/// A write never leaves a half-written file behind: the text goes to a new temporary
/// file in the same directory, which is flushed to disk (`fsync`), given its final mode,
/// and renamed over the destination; then the directory itself is flushed so that the
/// rename survives a crash. Missing parent directories are created with mode 0700.
public enum PEMFiles {
    /// Atomically writes secret text (a private key) to `path` with mode 0600.
    ///
    /// - Throws: `.io` naming the path and the system's reason.
    public static func writeSecret(_ text: String, to path: String) throws(PKIError) {
        try writeAtomically(text, to: path, mode: 0o600)
    }

    /// Atomically writes public text (a certificate, a CSR) to `path` with mode 0644.
    ///
    /// - Throws: `.io` naming the path and the system's reason.
    public static func write(_ text: String, to path: String) throws(PKIError) {
        try writeAtomically(text, to: path, mode: 0o644)
    }

    /// The most any file read here may hold: certificate chains, keys, an agent identity
    /// and a CLI config are a few KiB, and a path to `/dev/zero` or a huge file must end in
    /// an error, not in all of the machine's memory.
    public static let maximumFileBytes = 1 << 20

    /// The text of the file at `path`.
    ///
    /// - Throws: `.io` naming the path and the system's reason, or when the file holds more
    ///   than ``maximumFileBytes``; `.invalidPEM` when the file is not UTF-8 text.
    public static func read(_ path: String) throws(PKIError) -> String {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        try POSIXCall.check(descriptor >= 0, "cannot open", path)
        defer { close(descriptor) }
        var contents: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { posixRead(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR {
                continue
            }
            try POSIXCall.check(count >= 0, "cannot read", path)
            if count == 0 {
                break
            }
            contents.append(contentsOf: buffer[..<count])
            guard contents.count <= maximumFileBytes else {
                throw PKIError(code: .io, message: "\(path) is larger than \(maximumFileBytes / 1024) KiB; not a certificate, key or config file")
            }
        }
        guard let text = String(validating: contents, as: UTF8.self) else {
            throw PKIError(code: .invalidPEM, message: "\(path) is not UTF-8 text")
        }
        return text
    }

    private static func writeAtomically(_ text: String, to path: String, mode: mode_t) throws(PKIError) {
        let (directory, name) = split(path)
        guard !path.hasSuffix("/"), !name.isEmpty, name != ".", name != ".." else {
            throw PKIError(code: .io, message: "\(path) does not name a file")
        }
        try createDirectory(directory)
        let temporary = "\(directory)/.\(name).tmp-\(Hex.lowercase(SecureRandom.bytes(8)))"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
        try POSIXCall.check(descriptor >= 0, "cannot create", temporary)
        var renamed = false
        defer {
            if !renamed {
                unlink(temporary)
            }
        }
        do throws(PKIError) {
            try POSIXCall.check(fchmod(descriptor, mode) == 0, "cannot set the mode of", temporary)
            try writeAll(Array(text.utf8), to: descriptor, temporary)
            try POSIXCall.check(fsync(descriptor) == 0, "cannot flush", temporary)
        } catch {
            close(descriptor)
            throw error
        }
        try POSIXCall.check(close(descriptor) == 0, "cannot close", temporary)
        try POSIXCall.check(rename(temporary, path) == 0, "cannot rename \(temporary) to", path)
        renamed = true
        try syncDirectory(directory)
    }

    private static func writeAll(_ bytes: [UInt8], to descriptor: Int32, _ path: String) throws(PKIError) {
        var offset = 0
        while offset < bytes.count {
            let count = bytes.withUnsafeBytes { posixWrite(descriptor, $0.baseAddress! + offset, $0.count - offset) }
            if count < 0 && errno == EINTR {
                continue
            }
            try POSIXCall.check(count >= 0, "cannot write", path)
            offset += count
        }
    }

    private static func syncDirectory(_ directory: String) throws(PKIError) {
        let descriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        try POSIXCall.check(descriptor >= 0, "cannot open directory", directory)
        defer { close(descriptor) }
        try POSIXCall.check(fsync(descriptor) == 0, "cannot flush directory", directory)
    }

    /// Creates `directory` and its missing ancestors with mode 0700; existing
    /// directories are left as they are.
    private static func createDirectory(_ directory: String) throws(PKIError) {
        if isDirectory(directory) {
            return
        }
        let (parent, _) = split(directory)
        if parent != directory {
            try createDirectory(parent)
        }
        let created = mkdir(directory, 0o700) == 0
        try POSIXCall.check(created || (errno == EEXIST && isDirectory(directory)), "cannot create directory", directory)
    }

    private static func isDirectory(_ path: String) -> Bool {
        var information = stat()
        return stat(path, &information) == 0 && information.st_mode & S_IFMT == S_IFDIR
    }

    /// The directory part and the last component of `path`, trailing slashes ignored:
    /// "a/b" is ("a", "b"), "b" is (".", "b"), "/b" is ("/", "b"), "/" is ("/", "").
    private static func split(_ path: String) -> (directory: String, name: String) {
        var trimmed = Substring(path)
        while trimmed.count > 1 && trimmed.hasSuffix("/") {
            trimmed = trimmed.dropLast()
        }
        guard let slash = trimmed.lastIndex(of: "/") else {
            return (".", String(trimmed))
        }
        let directory = trimmed[..<slash]
        let name = trimmed[trimmed.index(after: slash)...]
        return (directory.isEmpty ? "/" : String(directory), String(name))
    }
}

/// The one place where results of system calls become Swift errors: `errno` is read
/// at once, before anything else can change it.
enum POSIXCall {
    /// Throws `.io` saying "`action` `path`: reason" unless `succeeded`.
    static func check(_ succeeded: Bool, _ action: @autoclosure () -> String, _ path: String) throws(PKIError) {
        guard succeeded else {
            let code = errno
            throw PKIError(code: .io, message: "\(action()) \(path): \(String(cString: strerror(code)))")
        }
    }
}

private func posixRead(_ descriptor: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
    read(descriptor, buffer, count)
}

private func posixWrite(_ descriptor: Int32, _ buffer: UnsafeRawPointer?, _ count: Int) -> Int {
    write(descriptor, buffer, count)
}
