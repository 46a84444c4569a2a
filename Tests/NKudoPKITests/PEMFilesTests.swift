import Foundation
import NKudoPKI
import Testing

@Suite("PEM files")
struct PEMFilesTests {
    private func mode(_ path: String) throws -> Int {
        var information = stat()
        try #require(stat(path, &information) == 0)
        return Int(information.st_mode & 0o777)
    }

    private func inode(_ path: String) throws -> UInt64 {
        var information = stat()
        try #require(stat(path, &information) == 0)
        return UInt64(information.st_ino)
    }

    @Test("writeSecret creates a 0600 file and missing parents with 0700")
    func secretFileMode() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("a/b/ca.key")
        try PEMFiles.writeSecret("secret\n", to: path)
        #expect(try mode(path) == 0o600)
        #expect(try mode(directory.file("a")) == 0o700)
        #expect(try mode(directory.file("a/b")) == 0o700)
        #expect(try PEMFiles.read(path) == "secret\n")
    }

    @Test("write creates a 0644 file, whatever the umask")
    func publicFileMode() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("ca.pem")
        // The umask is process-wide; 077 only narrows what other tests running now create.
        let previous = umask(0o077)
        defer { umask(previous) }
        try PEMFiles.write("public\n", to: path)
        #expect(try mode(path) == 0o644)
        #expect(try PEMFiles.read(path) == "public\n")
    }

    @Test("a write replaces the file by renaming a new one over it and leaves no temporary file")
    func atomicReplacement() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("agent.key")
        try PEMFiles.write("old contents that are longer than the new ones\n", to: path)
        #expect(try mode(path) == 0o644)
        let before = try inode(path)
        try PEMFiles.writeSecret("new\n", to: path)
        #expect(try inode(path) != before)
        #expect(try mode(path) == 0o600)
        #expect(try PEMFiles.read(path) == "new\n")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["agent.key"])
    }

    @Test("concurrent writers never leave a torn file")
    func concurrentWriters() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("shared.pem")
        let texts = (0..<8).map { String(repeating: Character(String($0)), count: 100_000) + "\n" }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for text in texts {
                group.addTask { try PEMFiles.write(text, to: path) }
                group.addTask { _ = try? PEMFiles.read(path) }
            }
            try await group.waitForAll()
        }
        #expect(texts.contains(try PEMFiles.read(path)))
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["shared.pem"])
    }

    @Test("reading a missing file fails with .io naming the path and the reason")
    func missingFile() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("missing.pem")
        let error = expectPKIError(.io) { _ = try PEMFiles.read(path) }
        #expect(error?.message.contains(path) == true)
        #expect(error?.message.contains("No such file or directory") == true)
    }

    @Test("a write that cannot happen fails with .io and leaves nothing behind")
    func failedWrite() throws {
        let directory = try TemporaryDirectory()
        try PEMFiles.write("a file\n", to: directory.file("file"))
        expectPKIError(.io) { try PEMFiles.write("x", to: directory.file("file/child.pem")) }
        let error = expectPKIError(.io) { try PEMFiles.write("x", to: directory.file("dir/")) }
        #expect(error?.message.contains("does not name a file") == true)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["file"])
    }

    @Test("an endless or oversized file is refused at 1 MiB, not read into memory whole")
    func oversized() throws {
        let error = expectPKIError(.io) { _ = try PEMFiles.read("/dev/zero") }
        #expect(error?.message.contains("/dev/zero is larger than 1024 KiB") == true, "\(error?.message ?? "")")
        let directory = try TemporaryDirectory()
        let path = directory.file("big.pem")
        try #require(FileManager.default.createFile(atPath: path, contents: Data(repeating: 0x41, count: PEMFiles.maximumFileBytes)))
        #expect(try PEMFiles.read(path).count == PEMFiles.maximumFileBytes, "exactly the limit is read")
    }

    @Test("a file that is not UTF-8 is not PEM")
    func notUTF8() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("binary")
        try #require(FileManager.default.createFile(atPath: path, contents: Data([0xFF, 0xFE, 0x00])))
        expectPKIError(.invalidPEM) { _ = try PEMFiles.read(path) }
    }
}
