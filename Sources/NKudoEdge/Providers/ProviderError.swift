/// A failure of a microVM provider operation. The message is safe to report to the
/// control plane as an action's `message`: it names paths and VM ids, never secrets.
public struct ProviderError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of failure this is; open for new codes.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        /// The code's stable name.
        public let name: String

        /// A VM id, TAP name or other parameter is not acceptable.
        public static let invalidArgument = Code(name: "INVALID_ARGUMENT")
        /// The VM has no metadata in the runtime directory.
        public static let notFound = Code(name: "NOT_FOUND")
        /// A file-system operation (disk, cache, metadata, seed) failed.
        public static let io = Code(name: "IO")
        /// An external command (`ip`, the ISO tool) failed.
        public static let commandFailed = Code(name: "COMMAND_FAILED")
        /// Starting, signalling or waiting for a process failed.
        public static let processFailed = Code(name: "PROCESS_FAILED")
        /// The Cloud Hypervisor REST API answered with an error or not at all.
        public static let api = Code(name: "API")

        public var description: String { name }
    }

    /// The failure's kind.
    public var code: Code
    /// Human-readable text.
    public var message: String

    /// A failure of kind `code` described by `message`.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
