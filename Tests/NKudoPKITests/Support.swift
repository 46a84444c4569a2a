import Foundation
import NKudoPKI
import Testing

/// A fresh directory under the system's temporary directory, removed when released.
final class TemporaryDirectory {
    let path: String

    init() throws {
        var template = Array((NSTemporaryDirectory() + "/nkudo-pki-XXXXXX").utf8CString)
        let created = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard let created else {
            throw CocoaError(.fileWriteUnknown)
        }
        path = String(cString: created)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }

    func file(_ name: String) -> String {
        "\(path)/\(name)"
    }
}

/// What a run of the `openssl` command line tool produced.
struct ToolOutput {
    let status: Int32
    let standardOutput: String
    let standardError: String
}

/// Runs `openssl` with `arguments` in `directory`.
func openssl(_ arguments: [String], in directory: TemporaryDirectory) throws -> ToolOutput {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["openssl"] + arguments
    process.currentDirectoryURL = URL(fileURLWithPath: directory.path)
    let output = Pipe()
    let error = Pipe()
    process.standardOutput = output
    process.standardError = error
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let standardOutput = output.fileHandleForReading.readDataToEndOfFile()
    let standardError = error.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return ToolOutput(
        status: process.terminationStatus,
        standardOutput: String(decoding: standardOutput, as: UTF8.self),
        standardError: String(decoding: standardError, as: UTF8.self)
    )
}

/// Runs `openssl` and returns its standard output, recording an issue when it fails.
@discardableResult
func opensslSucceeding(
    _ arguments: [String],
    in directory: TemporaryDirectory,
    sourceLocation: SourceLocation = #_sourceLocation
) throws -> String {
    let result = try openssl(arguments, in: directory)
    #expect(
        result.status == 0,
        "openssl \(arguments.joined(separator: " ")) failed: \(result.standardError)",
        sourceLocation: sourceLocation
    )
    return result.standardOutput
}

/// The lines `openssl x509 -noout -ext <name>` prints for one extension: the header
/// ("X509v3 Key Usage: critical") and the value lines, trimmed.
func opensslExtension(_ name: String, ofCertificate file: String, in directory: TemporaryDirectory) throws -> [String] {
    let result = try openssl(["x509", "-noout", "-ext", name, "-in", file], in: directory)
    return result.standardOutput
        .split(separator: "\n")
        .map { $0.trimmingCharacters(in: .whitespaces) }
        .filter { !$0.isEmpty }
}

/// A whole-second date close to the current time, so that certificate dates compare exactly.
func wholeSecondNow() -> Date {
    Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down))
}

/// Decimal digits of the hexadecimal number `hex` (any length).
func decimal(fromHex hex: String) -> String {
    var digits: [Int] = [0]  // little-endian base-10 digits
    for character in hex {
        guard let value = character.hexDigitValue else {
            continue
        }
        var carry = value
        for index in digits.indices {
            let product = digits[index] * 16 + carry
            digits[index] = product % 10
            carry = product / 10
        }
        while carry > 0 {
            digits.append(carry % 10)
            carry /= 10
        }
    }
    while digits.count > 1 && digits.last == 0 {
        digits.removeLast()
    }
    return digits.reversed().map(String.init).joined()
}

/// Checks that `body` throws a `PKIError` with `code` and returns the error.
@discardableResult
func expectPKIError(
    _ code: PKIError.Code,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () throws -> Void
) -> PKIError? {
    let error = #expect(throws: PKIError.self, sourceLocation: sourceLocation) {
        try body()
    }
    #expect(error?.code == code, "\(String(describing: error))", sourceLocation: sourceLocation)
    return error
}

/// A CA generated once per test, valid for a year from `now`.
func makeCA(now: Date = wholeSecondNow()) throws -> CertificateAuthority {
    try CertificateAuthority.generate(commonName: "n-kudo test CA", validity: 365 * 86_400, now: now)
}

/// A CSR made by the `openssl` tool for a new key given as `-newkey` argument
/// (e.g. "rsa:2048") with extra `-pkeyopt` options, with its key file name.
func opensslCSR(
    newKey: String,
    options: [String] = [],
    extraArguments: [String] = [],
    in directory: TemporaryDirectory,
    name: String
) throws -> CertificateSigningRequest {
    try opensslSucceeding(
        ["req", "-new", "-newkey", newKey] + options.flatMap { ["-pkeyopt", $0] }
            + ["-nodes", "-subj", "/CN=requested-\(name)", "-keyout", "\(name).key", "-out", "\(name).csr"]
            + extraArguments,
        in: directory
    )
    return try CertificateSigningRequest(pem: try PEMFiles.read(directory.file("\(name).csr")))
}
