import Foundation
import PackagePlugin

/// Embeds the SQL files of `Migrations/<schema>/` into the binary: one command runs
/// `nkudo-embed-migrations`, which writes `EmbeddedMigrations.swift` into the plugin
/// work directory. A changed or added `.sql` file rebuilds it. The agent (`NKudoEdge`)
/// gets the schema of its state (`edge`), every other target the control plane's dialects.
@main
struct NKudoMigrationsPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) async throws -> [Command] {
        let root = context.package.directoryURL.appending(path: "Migrations")
        let schemas = target.name == "NKudoEdge" ? ["edge"] : ["sqlite", "postgres"]
        var inputs: [URL] = []
        for schema in schemas {
            let directory = root.appending(path: schema)
            for name in (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [] where name.hasSuffix(".sql") {
                inputs.append(directory.appending(path: name))
            }
        }
        let output = context.pluginWorkDirectoryURL.appending(path: "EmbeddedMigrations.swift")
        return [
            .buildCommand(
                displayName: "Embedding \(inputs.count) SQL migrations",
                executable: try context.tool(named: "nkudo-embed-migrations").url,
                arguments: [root.path, output.path] + schemas,
                inputFiles: inputs.sorted { $0.path < $1.path },
                outputFiles: [output]
            ),
        ]
    }
}
