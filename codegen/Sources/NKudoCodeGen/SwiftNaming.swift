import Foundation

/// How proto names become Swift names.
public enum SwiftNaming {
    /// The Swift file generated for a `.proto` file (the build plugin computes the same
    /// name): `nkudo/v1/agent.proto` → `nkudo_v1_agent.pb.swift`.
    public static func outputFileName(forProto path: String) -> String {
        let stem = path.hasSuffix(".proto") ? String(path.dropLast(".proto".count)) : path
        return stem.replacingOccurrences(of: "/", with: "_") + ".pb.swift"
    }

    /// The file listing every message type and service of the contract (the build plugin
    /// expects it too).
    public static let registryFileName = "ContractRegistry.pb.swift"

    /// The file holding the contract's OpenAPI document (the build plugin expects it too).
    public static let openAPIFileName = "ContractOpenAPI.pb.swift"

    /// The file holding the serialized descriptors for server reflection (the build plugin
    /// expects it too).
    public static let descriptorsFileName = "ContractDescriptors.pb.swift"

    /// The Swift type of `google.protobuf.Timestamp` (provided by NKudoWire).
    static let timestampTypeName = "ProtoTimestamp"

    /// Type names Swift reserves or that would shadow common standard-library types.
    static let reservedTypeNames: Set<String> = [
        "Error", "Type", "Protocol", "Self", "Any", "String", "Data", "Date", "Array",
        "Dictionary", "Optional", "Result", "Set", "Int", "Bool", "Double", "Float",
    ]

    /// A message's Swift name.
    static func messageName(_ protoName: String) -> String {
        reservedTypeNames.contains(protoName) ? protoName + "Message" : protoName
    }

    /// An enum's Swift name.
    static func enumName(_ protoName: String) -> String {
        reservedTypeNames.contains(protoName) ? protoName + "Enum" : protoName
    }

    /// lowerCamelCase of a snake_case name, escaped when it is a keyword.
    static func propertyName(_ snake: String) -> String {
        escape(lowerCamel(snake))
    }

    /// UpperCamelCase of a snake_case name.
    static func upperCamel(_ snake: String) -> String {
        snake.split(separator: "_").map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
    }

    /// lowerCamelCase of a snake_case name.
    static func lowerCamel(_ snake: String) -> String {
        let upper = upperCamel(snake)
        return upper.prefix(1).lowercased() + upper.dropFirst()
    }

    /// The Swift name of an enum value: the `ENUM_NAME_` prefix is dropped,
    /// `UPPER_SNAKE` becomes `lowerCamel`, `MixedCase` gets a lower-case first letter.
    static func enumValueName(_ value: String, enumName: String) -> String {
        var name = value
        let prefix = screamingSnake(enumName) + "_"
        if name.hasPrefix(prefix), name.count > prefix.count {
            name = String(name.dropFirst(prefix.count))
        }
        let result: String
        if name == name.uppercased() {
            result = lowerCamel(name.lowercased())
        } else {
            result = name.prefix(1).lowercased() + name.dropFirst()
        }
        if let first = result.first, first.isNumber {
            return "_" + result
        }
        return escape(result)
    }

    /// `HttpRule` → `HTTP_RULE`-style upper snake case (`MicroVM` → `MICRO_VM`).
    static func screamingSnake(_ camel: String) -> String {
        var result = ""
        let characters = Array(camel)
        for (index, character) in characters.enumerated() {
            if character.isUppercase, index > 0 {
                let previous = characters[index - 1]
                let next = index + 1 < characters.count ? characters[index + 1] : nil
                if previous.isLowercase || previous.isNumber || (next?.isLowercase ?? false) {
                    result += "_"
                }
            }
            result += character.uppercased()
        }
        return result
    }

    static func escape(_ name: String) -> String {
        keywords.contains(name) ? "`\(name)`" : name
    }

    static let keywords: Set<String> = [
        "associatedtype", "class", "deinit", "enum", "extension", "fileprivate", "func", "import", "init",
        "inout", "internal", "let", "open", "operator", "private", "precedencegroup", "protocol", "public",
        "rethrows", "static", "struct", "subscript", "typealias", "var", "break", "case", "catch", "continue",
        "default", "defer", "do", "else", "fallthrough", "for", "guard", "if", "in", "repeat", "return",
        "throw", "switch", "where", "while", "Any", "as", "false", "is", "nil", "self", "Self", "super",
        "throws", "true", "try", "Type", "Protocol", "await", "async",
    ]

    /// Property names that would collide with members every message has.
    static let reservedPropertyNames: Set<String> = ["protoFields", "protoMessageSchema", "hashValue", "jsonBytes", "writeBinaryFields", "writeJSON"]
}
