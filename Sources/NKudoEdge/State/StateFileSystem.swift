#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The POSIX calls behind the agent's files: the private state directory, reading, and
/// crash-safe replacement of a file. Every failing call goes through
/// `check`, which turns `errno` into an ``EdgeStateError`` at once.
enum StateFileSystem {
    /// Suffix marker of temporary files; `<name>.tmp.<pid>.<random>`.
    static let temporarySuffix = ".tmp."

    /// Turns a failed POSIX return value (`-1`) into an error carrying `strerror(errno)`.
    @discardableResult
    static func check(_ result: Int32, _ what: @autoclosure () -> String) throws -> Int32 {
        guard result == -1 else {
            return result
        }
        let text = errnoText(errno)
        throw EdgeStateError(.io, what(), underlying: text)
    }

    /// The text of an `errno` value.
    static func errnoText(_ code: Int32) -> String {
        String(cString: strerror(code))
    }

    /// Creates `path` and its missing parents with mode 0700 and narrows an existing
    /// directory to 0700.
    static func ensurePrivateDirectory(_ path: String) throws {
        var components: [Substring] = []
        for component in path.split(separator: "/", omittingEmptySubsequences: true) {
            components.append(component)
            let partial = (path.hasPrefix("/") ? "/" : "") + components.joined(separator: "/")
            if mkdir(partial, 0o700) == -1, errno != EEXIST {
                try check(-1, "create state directory \(partial)")
            }
        }
        var info = stat()
        try check(stat(path, &info), "stat state directory \(path)")
        guard (info.st_mode & S_IFMT) == S_IFDIR else {
            throw EdgeStateError(.io, "state directory \(path) is not a directory")
        }
        if info.st_mode & 0o777 != 0o700 {
            try check(chmod(path, 0o700), "restrict state directory \(path) to 0700")
        }
    }

    /// The whole content of `path`, or `nil` when the file does not exist.
    static func readFile(_ path: String) throws -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd == -1 {
            if errno == ENOENT {
                return nil
            }
            try check(-1, "read \(path)")
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count == -1 {
                if errno == EINTR {
                    continue
                }
                try check(-1, "read \(path)")
            }
            if count == 0 {
                return bytes
            }
            bytes.append(contentsOf: chunk[0..<count])
        }
    }

    /// Replaces `path` with `bytes` so that a crash at any point leaves either the old or
    /// the new content: a uniquely named temporary file (mode 0600) in the same directory
    /// is written and fsynced, renamed over `path`, then the directory is fsynced.
    static func writeAtomically(_ bytes: [UInt8], to path: String) throws {
        let directory = parentDirectory(of: path)
        let temporary = path + temporarySuffix + "\(getpid()).\(UInt64.random(in: 0...UInt64.max))"
        let fd = try check(
            open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600),
            "create \(temporary)"
        )
        var renamed = false
        defer {
            if !renamed {
                unlink(temporary)
            }
        }
        do {
            defer { close(fd) }
            try check(fchmod(fd, 0o600), "restrict \(temporary) to 0600")
            var offset = 0
            while offset < bytes.count {
                let written = bytes.withUnsafeBytes { buffer in
                    write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                }
                if written == -1 {
                    if errno == EINTR {
                        continue
                    }
                    try check(-1, "write \(temporary)")
                }
                offset += written
            }
            try check(fsync(fd), "fsync \(temporary)")
        }
        try check(rename(temporary, path), "rename \(temporary) to \(path)")
        renamed = true
        try fsyncDirectory(directory)
    }

    /// Flushes a directory's entries (renames, creations) to disk.
    static func fsyncDirectory(_ path: String) throws {
        let fd = try check(open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), "open directory \(path)")
        defer { close(fd) }
        try check(fsync(fd), "fsync directory \(path)")
    }

    /// The directory part of `path` (`.` when there is none).
    static func parentDirectory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else {
            return "."
        }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}
