import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A VM's serial console file (`console.log` in its directory), which the VMM appends to.
/// It is capped: when it grows past ``maximumBytes`` it is rotated to `console.log.1`
/// (replacing the previous one) and emptied; the VMM writes with `O_APPEND`, so it goes on
/// at the start of the emptied file. The tail the agent ships spans both files.
struct SerialConsole: Sendable, Hashable {
    /// The console file.
    let path: String

    /// The size past which the file is rotated, in bytes.
    static let maximumBytes = 1 << 20
    /// The most the agent ships per VM, in bytes.
    static let maximumTailBytes = 64 * 1024

    /// The rotated file.
    var rotatedPath: String { path + ".1" }

    /// Rotates the file when it is larger than ``maximumBytes``: copies it to the rotated
    /// file and truncates it in place (the VMM keeps its descriptor).
    func rotateIfNeeded() {
        var status = stat()
        guard stat(path, &status) == 0, Int(status.st_size) > Self.maximumBytes else { return }
        unlink(rotatedPath)
        guard (try? FileManager.default.copyItem(atPath: path, toPath: rotatedPath)) != nil else { return }
        truncate(path, 0)
    }

    /// Starts the console of a new boot: the previous boot's output becomes the rotated
    /// file, so what the agent reads about this boot (a panic) is this boot's.
    func startNewBoot() {
        guard FileOperations.fileType(path) != nil else { return }
        rename(path, rotatedPath)
    }

    /// The last `limit` bytes of the console (rotated file first), starting at a line,
    /// invalid UTF-8 replaced; `""` when there is no output.
    func tail(limit: Int = maximumTailBytes) -> String {
        var bytes = Self.lastBytes(of: path, limit: limit)
        if bytes.count < limit {
            bytes = Self.lastBytes(of: rotatedPath, limit: limit - bytes.count) + bytes
        }
        if bytes.count >= limit, let newline = bytes.firstIndex(of: UInt8(ascii: "\n")) {
            bytes = Array(bytes[(newline + 1)...])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The line of a guest kernel panic in `text`, nil when there is none.
    static func panicLine(in text: String) -> String? {
        text.split(whereSeparator: \.isNewline).last { $0.contains("Kernel panic") }.map {
            String($0.trimmingCharacters(in: .whitespaces).prefix(300))
        }
    }

    /// The last lines of `text` (at most `count`, 600 bytes), joined with ` | `, for a state reason.
    static func lastLines(of text: String, count: Int = 3) -> String {
        let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        return String(lines.suffix(count).joined(separator: " | ").suffix(600))
    }

    private static func lastBytes(of path: String, limit: Int) -> [UInt8] {
        guard limit > 0, let handle = FileHandle(forReadingAtPath: path) else { return [] }
        defer { try? handle.close() }
        guard let size = try? handle.seekToEnd() else { return [] }
        let start = size > UInt64(limit) ? size - UInt64(limit) : 0
        guard (try? handle.seek(toOffset: start)) != nil, let data = try? handle.readToEnd() else { return [] }
        return Array(data)
    }
}
