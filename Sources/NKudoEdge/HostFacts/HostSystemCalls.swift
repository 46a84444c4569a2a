#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The POSIX calls host facts need (`stat`, `statvfs`, `open`, `uname`, `getifaddrs`,
/// `access`), each wrapped so that no C type leaves this file.
enum HostSystemCalls {
    /// Sizes of one filesystem and the id that identifies it.
    struct FilesystemUsage: Equatable {
        /// `st_dev` of the queried path: equal for paths on the same filesystem.
        var deviceID: UInt64
        /// Blocks × fragment size.
        var totalBytes: Int64
        /// Blocks available to unprivileged users × fragment size.
        var availableBytes: Int64
    }

    /// Outcome of opening a device read-write.
    enum OpenOutcome: Equatable {
        /// `stat` failed; the text is the `strerror` of errno.
        case missing(String)
        /// `open(O_RDWR)` failed; the text is the `strerror` of errno.
        case openFailed(String)
        /// Opened (and closed again); whether the path is a character device.
        case opened(isCharacterDevice: Bool)
    }

    /// `stat` + `statvfs` of `path`, or `nil` when either fails.
    static func filesystemUsage(_ path: String) -> FilesystemUsage? {
        var info = stat()
        var fs = statvfs()
        guard stat(path, &info) == 0, statvfs(path, &fs) == 0 else {
            return nil
        }
        let blockSize = Int64(fs.f_frsize != 0 ? fs.f_frsize : fs.f_bsize)
        return FilesystemUsage(
            deviceID: UInt64(info.st_dev),
            totalBytes: Int64(fs.f_blocks) * blockSize,
            availableBytes: Int64(fs.f_bavail) * blockSize
        )
    }

    /// Whether `path` exists and can be opened read-write.
    static func openReadWrite(_ path: String) -> OpenOutcome {
        var info = stat()
        guard stat(path, &info) == 0 else {
            return .missing(errnoText())
        }
        let fd = open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else {
            return .openFailed(errnoText())
        }
        close(fd)
        return .opened(isCharacterDevice: (info.st_mode & S_IFMT) == S_IFCHR)
    }

    /// Whether `path` is a regular file the process may execute.
    static func isExecutableFile(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG && access(path, X_OK) == 0
    }

    /// Whether `path` exists (following symlinks).
    static func exists(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0
    }

    /// `uname` release and machine fields.
    static func kernelNames() -> (release: String, machine: String)? {
        var names = utsname()
        guard uname(&names) == 0 else {
            return nil
        }
        let release = withUnsafeBytes(of: names.release) { cString($0) }
        let machine = withUnsafeBytes(of: names.machine) { cString($0) }
        return (release, machine)
    }

    /// All IPv4 and IPv6 addresses per interface name, as `ip/prefix`, in the order
    /// `getifaddrs` lists them.
    static func interfaceAddresses() -> [String: [String]] {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else {
            return [:]
        }
        defer { freeifaddrs(list) }
        var result: [String: [String]] = [:]
        var cursor: UnsafeMutablePointer<ifaddrs>? = first
        while let entry = cursor {
            defer { cursor = entry.pointee.ifa_next }
            guard let address = entry.pointee.ifa_addr, let name = entry.pointee.ifa_name else {
                continue
            }
            let family = Int32(address.pointee.sa_family)
            guard family == AF_INET || family == AF_INET6 else {
                continue
            }
            var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            var prefix = 0
            if family == AF_INET {
                address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { v4 in
                    var raw = v4.pointee.sin_addr
                    _ = inet_ntop(AF_INET, &raw, &text, socklen_t(text.count))
                }
                prefix = entry.pointee.ifa_netmask.map { prefixLength($0, family: family) } ?? 0
            } else {
                address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { v6 in
                    var raw = v6.pointee.sin6_addr
                    _ = inet_ntop(AF_INET6, &raw, &text, socklen_t(text.count))
                }
                prefix = entry.pointee.ifa_netmask.map { prefixLength($0, family: family) } ?? 0
            }
            let ip = text.withUnsafeBytes { cString($0) }
            result[String(cString: name), default: []].append("\(ip)/\(prefix)")
        }
        return result
    }

    private static func prefixLength(_ mask: UnsafeMutablePointer<sockaddr>, family: Int32) -> Int {
        if family == AF_INET {
            return mask.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { v4 in
                withUnsafeBytes(of: v4.pointee.sin_addr) { $0.reduce(0) { $0 + $1.nonzeroBitCount } }
            }
        }
        return mask.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { v6 in
            withUnsafeBytes(of: v6.pointee.sin6_addr) { $0.reduce(0) { $0 + $1.nonzeroBitCount } }
        }
    }

    private static func cString(_ raw: UnsafeRawBufferPointer) -> String {
        String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
    }

    /// `strerror(errno)` in the lower-case form Go prints (`no such file or directory`).
    private static func errnoText() -> String {
        let text = String(cString: strerror(errno))
        guard let first = text.first else {
            return text
        }
        return first.lowercased() + text.dropFirst()
    }
}

/// Finds executables the way a shell does: a name with a `/` is used as a path,
/// anything else is looked up in each `PATH` directory in order.
enum ExecutableLookup {
    /// The path of `name`, or `nil` when it is not an executable regular file.
    static func find(_ name: String, environment: [String: String]) -> String? {
        guard !name.isEmpty else {
            return nil
        }
        if name.contains("/") {
            return HostSystemCalls.isExecutableFile(name) ? name : nil
        }
        let path = environment["PATH"] ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        for directory in path.split(separator: ":", omittingEmptySubsequences: false) {
            let candidate = (directory.isEmpty ? "." : String(directory)) + "/" + name
            if HostSystemCalls.isExecutableFile(candidate) {
                return candidate
            }
        }
        return nil
    }
}
