import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The guest's serial console, `--serial file=PATH`: created (empty) when the VMM starts,
/// like Cloud Hypervisor does; the fake guest writes its boot lines and its power-down
/// line to it. Without a file (`--serial off`, `tty`, …) nothing is written.
struct SerialConsole: Sendable {
    /// The console file, nil when the serial port is not a file.
    let path: String?

    init(serial: String?) {
        path = serial.flatMap { CommandLineOptions.keyValues($0)["file"] }
    }

    /// What the fake guest prints while it boots.
    static let bootLines = [
        "[    0.000000] Linux version 6.1.0-fake (fake-cloud-hypervisor)",
        "[    0.412345] Run /sbin/init as init process",
        "fake-guest login: ",
    ]

    /// What the fake guest prints when it powers off.
    static let powerDownLine = "reboot: Power down"

    /// Creates the console file, empty.
    func create() {
        if let path {
            _ = FileManager.default.createFile(atPath: path, contents: Data())
        }
    }

    /// Appends `lines` to the console file.
    func append(_ lines: [String]) {
        guard let path else {
            return
        }
        let descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            return
        }
        defer { close(descriptor) }
        let text = Data(lines.map { "\($0)\n" }.joined().utf8)
        _ = text.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
    }
}
