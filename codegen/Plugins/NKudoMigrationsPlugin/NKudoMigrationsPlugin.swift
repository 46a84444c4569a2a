import Foundation
import PackagePlugin

/// Embeds the SQL files of `Migrations/<dialect>/` into the binary: one command runs
/// `nkudo-embed-migrations`, which writes `EmbeddedMigrations.swift` into the plugin
/// work directory. A changed or added `.sql` file rebuilds it.
@main
struct NKudoMigrationsPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) async throws -> [Command] {
        let root = context.package.directoryURL.appending(path: "Migrations")
        var inputs: [URL] = []
        if let enumerator = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil) {
            for case let url as URL in enumerator where url.pathExtension == "sql" {
                inputs.append(url)
            }
        }
        let output = context.pluginWorkDirectoryURL.appending(path: "EmbeddedMigrations.swift")
        return [
            .buildCommand(
                displayName: "Embedding \(inputs.count) SQL migrations",
                executable: try context.tool(named: "nkudo-embed-migrations").url,
                arguments: [root.path, output.path],
                inputFiles: inputs.sorted { $0.path < $1.path },
                outputFiles: [output]
            ),
        ]
    }
}
