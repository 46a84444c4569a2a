import Foundation
import NKudoContract
import NKudoPKI
@testable import NKudoEdge
import Testing

/// The VM's serial console file: capped by rotation, its tail read across both files,
/// a guest kernel panic found in it.
@Suite("Serial console")
struct SerialConsoleTests {
    static func file() throws -> String {
        let directory = FileManager.default.temporaryDirectory.appending(path: "nkconsole-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory + "/console.log"
    }

    @Test("past 1 MiB the console is rotated to console.log.1; the tail spans both files, starts at a line and is at most 64 KiB")
    func rotation() throws {
        let path = try Self.file()
        defer { try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path) }
        let console = SerialConsole(path: path)
        #expect(console.tail().isEmpty, "no file, no output")
        let line = String(repeating: "a", count: 99) + "\n"
        try Data(String(repeating: line, count: 11_000).utf8).write(to: URL(fileURLWithPath: path))
        console.rotateIfNeeded()
        #expect(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int == 0)
        #expect(try FileManager.default.attributesOfItem(atPath: path + ".1")[.size] as? Int == 1_100_000)
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("NKUDO-GUEST-BOOTED\n".utf8))
        try handle.close()
        let tail = console.tail()
        #expect(tail.utf8.count <= SerialConsole.maximumTailBytes && tail.hasPrefix(line) && tail.hasSuffix(line + "NKUDO-GUEST-BOOTED\n"))
        console.startNewBoot()
        #expect(!FileManager.default.fileExists(atPath: path) && console.tail().hasSuffix("NKUDO-GUEST-BOOTED\n"))
    }

    @Test("a guest kernel panic is found with its line; the last lines summarise a console")
    func panic() {
        let text = "[    1.0] Run /init\r\nnkudo-test: init exits now\r\n[    1.2] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000000\r\n"
        #expect(SerialConsole.panicLine(in: text) == "[    1.2] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000000")
        #expect(SerialConsole.panicLine(in: "NKUDO-GUEST-BOOTED\n") == nil)
        #expect(SerialConsole.lastLines(of: "a\n\nb\nc\nd\n") == "b | c | d")
    }

    @Test("the image catalog lists the image directories' files with digest, size and kind, and cache entries no file has")
    func catalog() throws {
        let root = FileManager.default.temporaryDirectory.appending(path: "nkcatalog-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: root + "/images", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root + "/cache", withIntermediateDirectories: true)
        try Data("kernel".utf8).write(to: URL(fileURLWithPath: root + "/images/vmlinuz-6.1"))
        try Data("initrd".utf8).write(to: URL(fileURLWithPath: root + "/images/initrd.img-6.1"))
        try Data("disk".utf8).write(to: URL(fileURLWithPath: root + "/images/debian.qcow2"))
        try Data("hidden".utf8).write(to: URL(fileURLWithPath: root + "/images/.hidden"))
        let cached = String(repeating: "c", count: 64)
        try Data("cached".utf8).write(to: URL(fileURLWithPath: root + "/cache/\(cached).raw"))
        let library = ImageLibrary(directories: [root + "/images"], cacheDirectory: root + "/cache", protectedDirectories: [])
        let images = library.catalog()
        #expect(images.map(\.name) == ["debian.qcow2", "initrd.img-6.1", "sha256:\(cached)", "vmlinuz-6.1"])
        #expect(images.map(\.kind) == [.disk, .initrd, .disk, .kernel])
        #expect(images[0].digest == "sha256:" + Digest.sha256Hex("disk") && images[0].sizeBytes == 4)
    }
}
