// fake-cloud-hypervisor: a stand-in for the `cloud-hypervisor` binary that the edge
// agent's real provider launches in tests. It takes the same command line, serves the
// same REST API subset on `--api-socket`, and records every call. See FakeVMM.swift.
import Foundation

do {
    try FakeVMM.main(arguments: Array(CommandLine.arguments.dropFirst()), environment: ProcessInfo.processInfo.environment)
} catch {
    FileHandle.standardError.write(Data("fake-cloud-hypervisor: \(error)\n".utf8))
    exit(1)
}
