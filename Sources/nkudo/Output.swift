import NKudoClient
import NKudoWire

/// Prints a response as the user asked: a table (or key–value details), the wide
/// table, the proto3 JSON of the response indented, or that JSON as YAML.
struct Output {
    let format: OutputFormat

    var isStructured: Bool { format == .json || format == .yaml }
    var wide: Bool { format == .wide }

    /// Prints `message` as JSON/YAML, else the text `table(wide)` renders.
    func emit<Message: ProtoMessage>(_ message: Message, table: (_ wide: Bool) -> String) throws {
        switch format {
        case .json, .yaml:
            print(try structured(message), terminator: "")
        case .table, .wide:
            print(table(wide), terminator: "")
        }
    }

    /// The message as indented JSON or YAML, ending in a newline.
    func structured<Message: ProtoMessage>(_ message: Message) throws -> String {
        let document = try JSONDocument(parsing: try message.jsonBytes())
        return format == .yaml ? document.yaml() : document.prettyJSON() + "\n"
    }
}
