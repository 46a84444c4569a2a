import Foundation
@testable import NKudoControlPlane
import Testing

/// The README's configuration table stays in sync with the settings the binary reads.
@Suite("Documentation")
struct DocumentationTests {
    @Test("every setting is in the README with its flag and default")
    func readmeListsEverySetting() throws {
        let readme = try String(contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appending(path: "README.md"), encoding: .utf8)
        for setting in ControlPlaneConfiguration.settings {
            #expect(readme.contains("| `\(setting.environmentName)` | `--\(setting.flagName)` | \(setting.defaultDescription) |"),
                    "README is missing \(setting.environmentName)")
        }
    }
}
