import Foundation
import Logging
@testable import NKudoEdge
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A temporary runtime for one test: runtime, image, cache and (protected) PKI and state
/// directories, a wrapper around
/// the fake VMM that sets its fault-injection environment and records its PIDs, and
/// clean-up that kills every fake VMM the test started.
final class CloudHypervisorSandbox {
    let root: String
    var runtimeDirectory: String { "\(root)/vms" }
    var imageDirectory: String { "\(root)/images" }
    var cacheDirectory: String { "\(root)/image-cache" }
    var pkiDirectory: String { "\(root)/pki" }
    var stateDirectory: String { "\(root)/state" }
    var recordPath: String { "\(root)/calls.jsonl" }
    private var pidsPath: String { "\(root)/pids" }
    private var wrapperCount = 0

    init() throws {
        let name = "nkch-\(UUID().uuidString.prefix(8))"
        root = "/tmp/\(name)"
        for directory in ["vms", "images", "pki", "state"] {
            try FileManager.default.createDirectory(atPath: "\(root)/\(directory)", withIntermediateDirectories: true)
        }
    }

    deinit {
        killAll()
        try? FileManager.default.removeItem(atPath: root)
    }

    /// The fake binary, built next to the test bundle (`swift build --product fake-cloud-hypervisor`).
    static let fakeBinary: String = {
        let candidates = [
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("fake-cloud-hypervisor").path,
            URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent(".build/debug/fake-cloud-hypervisor").path,
        ]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates[1]
    }()

    /// A script that runs the fake VMM with `environment` (exec keeps the PID).
    func vmmBinary(environment: [String: String] = [:]) throws -> String {
        wrapperCount += 1
        let path = "\(root)/cloud-hypervisor-\(wrapperCount)"
        var env = environment
        env["FAKE_CH_RECORD"] = env["FAKE_CH_RECORD"] ?? recordPath
        let assignments = env.sorted { $0.key < $1.key }.map { "\($0.key)='\($0.value)'" }.joined(separator: " ")
        let script = """
            #!/bin/sh
            echo $$ >> '\(pidsPath)'
            exec env \(assignments) '\(Self.fakeBinary)' "$@"

            """
        try script.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o755)
        return path
    }

    /// An ISO tool: genisoimage when installed, else a script that writes a stand-in file.
    func isoTool() throws -> String {
        for candidate in ["/usr/bin/genisoimage", "/usr/bin/cloud-localds"] where FileManager.default.isExecutableFile(atPath: candidate) {
            return candidate
        }
        let path = "\(root)/genisoimage"
        try "#!/bin/sh\nwhile [ \"$1\" != -output ]; do shift; done\necho iso > \"$2\"\n".write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o755)
        return path
    }

    func configuration(environment: [String: String] = [:]) throws -> CloudHypervisorConfiguration {
        var configuration = CloudHypervisorConfiguration()
        configuration.cloudHypervisorBinary = try vmmBinary(environment: environment)
        configuration.runtimeDirectory = runtimeDirectory
        configuration.imageDirectories = [imageDirectory]
        configuration.imageCacheDirectory = cacheDirectory
        configuration.protectedDirectories = [pkiDirectory, stateDirectory]
        configuration.isoTool = try isoTool()
        configuration.networking = .disabled
        configuration.blankDiskSizeMiB = 16
        configuration.startTimeout = 10
        configuration.stopTimeout = 3
        configuration.terminateTimeout = 2
        return configuration
    }

    func provider(environment: [String: String] = [:], adjust: (inout CloudHypervisorConfiguration) -> Void = { _ in }) throws -> CloudHypervisorProvider {
        var configuration = try configuration(environment: environment)
        adjust(&configuration)
        return CloudHypervisorProvider(configuration: configuration, logger: Logger(label: "test.ch"))
    }

    /// Writes an image file into the image directory; returns its path.
    @discardableResult
    func image(_ name: String, _ content: Data) throws -> String {
        let path = "\(imageDirectory)/\(name)"
        try content.write(to: URL(fileURLWithPath: path))
        return path
    }

    /// The recorded API calls (`method path`), without the argv lines.
    func calls() -> [String] {
        records().compactMap { record in
            guard let method = record["method"] as? String, let path = record["path"] as? String else {
                return nil
            }
            return "\(method) \(path)"
        }
    }

    /// The command lines the fake VMM was started with.
    func launches() -> [[String]] {
        records().compactMap { $0["argv"] as? [String] }
    }

    private func records() -> [[String: Any]] {
        guard let text = try? String(contentsOfFile: recordPath, encoding: .utf8) else {
            return []
        }
        return text.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    /// PIDs of fake VMMs this sandbox started that are still running.
    func livePIDs() -> [Int32] {
        let text = (try? String(contentsOfFile: pidsPath, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { Int32($0) }.filter { pid in
            guard let cmdline = try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8),
                  let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")")
            else {
                return false
            }
            let state = stat[stat.index(close, offsetBy: 2)]
            return cmdline.contains("fake-cloud-hypervisor") && state != "Z"
        }
    }

    func killAll() {
        for pid in livePIDs() {
            kill(pid, SIGKILL)
        }
        let text = (try? String(contentsOfFile: pidsPath, encoding: .utf8)) ?? ""
        for pid in text.split(separator: "\n").compactMap({ Int32($0) }) {
            ProcessControl.reap(pid)
        }
    }
}

/// Waits up to `seconds` for `condition`.
func eventually(_ seconds: Double = 5, _ condition: () -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + .seconds(seconds)
    while ContinuousClock.now < deadline {
        if condition() {
            return true
        }
        try await Task.sleep(for: .milliseconds(50))
    }
    return condition()
}
