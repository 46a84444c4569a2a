import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The one place the provider talks to the process C API: spawning a detached process
/// (`posix_spawn` with `POSIX_SPAWN_SETSID`), signalling it, reaping it, and reading its
/// identity (session id, start time) from `/proc`.
enum ProcessControl {
    /// Identity of a running process: its PID and its start time in clock ticks since
    /// boot (`/proc/<pid>/stat` field 22). The pair survives PID reuse: a recycled PID
    /// has another start time.
    struct Identity: Sendable, Hashable, Codable {
        var pid: Int32
        var startTime: UInt64
    }

    /// Starts `executable` (searched on `PATH` when it has no slash) with `arguments` in a new session (detached from the caller's
    /// terminal, process group and signals), stdin from `/dev/null`, stdout and stderr
    /// appended to `logPath`. Returns the child's identity.
    static func spawnDetached(executable: String, arguments: [String], logPath: String) throws(ProviderError) -> Identity {
        var attributes = posix_spawnattr_t()
        try check(posix_spawnattr_init(&attributes), "posix_spawnattr_init")
        defer { posix_spawnattr_destroy(&attributes) }
        try check(posix_spawnattr_setflags(&attributes, Int16(setsidFlag | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)), "posix_spawnattr_setflags")
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        try check(posix_spawnattr_setsigmask(&attributes, &emptyMask), "posix_spawnattr_setsigmask")
        var defaultSignals = sigset_t()
        sigfillset(&defaultSignals)
        try check(posix_spawnattr_setsigdefault(&attributes, &defaultSignals), "posix_spawnattr_setsigdefault")

        var fileActions = posix_spawn_file_actions_t()
        try check(posix_spawn_file_actions_init(&fileActions), "posix_spawn_file_actions_init")
        defer { posix_spawn_file_actions_destroy(&fileActions) }
        try check(posix_spawn_file_actions_addopen(&fileActions, 0, "/dev/null", O_RDONLY, 0), "addopen stdin")
        try check(posix_spawn_file_actions_addopen(&fileActions, 1, logPath, O_WRONLY | O_CREAT | O_APPEND, 0o644), "addopen stdout")
        try check(posix_spawn_file_actions_adddup2(&fileActions, 1, 2), "adddup2 stderr")
        for descriptor in inheritableDescriptors() {
            try check(posix_spawn_file_actions_addclose(&fileActions, descriptor), "addclose")
        }

        let argv = ([executable] + arguments).map { strdup($0) }
        let envp = ProcessInfo.processInfo.environment.map { strdup("\($0.key)=\($0.value)") }
        defer { (argv + envp).forEach { free($0) } }
        var cArguments = argv + [nil]
        var cEnvironment = envp + [nil]
        var pid: pid_t = 0
        let status = cArguments.withUnsafeMutableBufferPointer { arguments in
            cEnvironment.withUnsafeMutableBufferPointer { environment in
                guard let argv = arguments.baseAddress, let envp = environment.baseAddress else {
                    return EINVAL
                }
                return posix_spawnp(&pid, executable, &fileActions, &attributes, argv, envp)
            }
        }
        guard status == 0 else {
            throw ProviderError(.processFailed, "cannot start \(executable): \(String(cString: strerror(status)))")
        }
        guard let startTime = startTime(of: pid) else {
            reap(pid)
            throw ProviderError(.processFailed, "\(executable) exited at once")
        }
        return Identity(pid: pid, startTime: startTime)
    }

    /// Whether the process `identity` names is still running: the PID exists, is not a
    /// zombie, and started at the recorded time. A zombie child of this process is reaped.
    static func isAlive(_ identity: Identity) -> Bool {
        guard identity.pid > 0, let stat = procStat(identity.pid) else {
            return false
        }
        if stat.state == "Z" || stat.state == "X" {
            reap(identity.pid)
            return false
        }
        return stat.startTime == identity.startTime
    }

    /// A running process whose command line holds `option` immediately followed by
    /// `value` (e.g. `--api-socket <path>`), found by scanning `/proc`; nil when none.
    static func find(option: String, value: String) -> Identity? {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for pid in names.compactMap(Int32.init) where pid != getpid() {
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else {
                continue
            }
            let arguments = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            guard zip(arguments, arguments.dropFirst()).contains(where: { $0 == option && $1 == value }),
                  let startTime = startTime(of: pid) else {
                continue
            }
            let identity = Identity(pid: pid, startTime: startTime)
            if isAlive(identity) {
                return identity
            }
        }
        return nil
    }

    /// Sends `signal` to `identity` if it is still the same process.
    /// Polls every 50 ms until `identity` is gone; true if it exited within `seconds`.
    /// Returns early (false) when the task is cancelled.
    @discardableResult
    static func waitForExit(_ identity: Identity, seconds: Double) async -> Bool {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while isAlive(identity) {
            guard ContinuousClock.now < deadline, (try? await Task.sleep(for: .milliseconds(50))) != nil else {
                return false
            }
        }
        return true
    }

    static func signal(_ identity: Identity, _ signal: Int32) {
        guard isAlive(identity) else {
            return
        }
        kill(identity.pid, signal)
    }

    /// Reaps `pid` if it is an exited child of this process; a no-op otherwise.
    static func reap(_ pid: Int32) {
        var status: Int32 = 0
        _ = waitpid(pid, &status, WNOHANG)
    }

    /// The start time of `pid` (`/proc/<pid>/stat` field 22), nil when it does not exist.
    static func startTime(of pid: Int32) -> UInt64? {
        procStat(pid)?.startTime
    }

    private static func procStat(_ pid: Int32) -> (state: Character, startTime: UInt64)? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")")
        else {
            return nil
        }
        // Fields after the command name (which may hold spaces and parentheses) start at
        // field 3 (state); field 22 (starttime) is the 20th of them.
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count >= 20, let state = fields[0].first, let startTime = UInt64(fields[19]) else {
            return nil
        }
        return (state, startTime)
    }

    /// `POSIX_SPAWN_SETSID` (glibc ≥ 2.26); the Glibc module hides it behind `_GNU_SOURCE`.
    private static let setsidFlag: Int32 = 0x80

    /// Descriptors above stderr that a spawned process would inherit (not close-on-exec),
    /// so that the VMM does not hold the agent's sockets and pipes open.
    private static func inheritableDescriptors() -> [Int32] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return names.compactMap { Int32($0) }.filter { descriptor in
            guard descriptor > 2 else {
                return false
            }
            let flags = fcntl(descriptor, F_GETFD)
            return flags >= 0 && flags & FD_CLOEXEC == 0
        }
    }

    private static func check(_ status: Int32, _ what: String) throws(ProviderError) {
        guard status == 0 else {
            throw ProviderError(.processFailed, "\(what): \(String(cString: strerror(status)))")
        }
    }
}
