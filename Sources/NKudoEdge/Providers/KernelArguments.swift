import Foundation

/// The kernel command-line words a plan may add (`extra_args`): `key` or `key=value`, the
/// key from an allow-list the agent's operator controls, the value made of characters that
/// cannot start another word or quote anything. The guest's command line is otherwise the
/// agent's own (`CloudHypervisorConfiguration/kernelCommandLine`).
public enum KernelArguments {
    /// The keys allowed by default: console and boot-disk selection, the kernel's IP
    /// autoconfiguration, verbosity and panic behaviour. Not `init`, not module or security
    /// options.
    public static let defaultAllowedKeys: Set<String> = [
        "console", "earlycon", "earlyprintk", "root", "rootfstype", "rootflags", "rootwait", "ro", "rw", "ip", "quiet", "loglevel",
        "panic", "net.ifnames", "biosdevname",
    ]

    /// The longest accepted word, in bytes.
    public static let maximumWordLength = 256

    /// Checks every word of `words` (blank ones are dropped).
    ///
    /// - Throws: ``ProviderError/Code/invalidArgument`` naming the first word that is not
    ///   allowed and why, with the allowed keys.
    public static func validated(_ words: [String], allowedKeys: Set<String>) throws(ProviderError) -> [String] {
        var accepted: [String] = []
        for word in words {
            let trimmed = word.trimmingCharacters(in: .whitespaces)
            guard !trimmed.isEmpty else { continue }
            let key = trimmed.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
            guard trimmed.utf8.count <= maximumWordLength, trimmed.utf8.allSatisfy(isSafe), !key.isEmpty else {
                throw ProviderError(.invalidArgument,
                                    "kernel argument \"\(trimmed.prefix(80))\" is refused: a word is key or key=value of letters, digits and .,:/=+@_- (at most \(maximumWordLength) bytes)")
            }
            guard allowedKeys.contains(key) else {
                throw ProviderError(.invalidArgument,
                                    "kernel argument \"\(trimmed.prefix(80))\" is refused: \(key) is not an allowed key (allowed: \(allowedKeys.sorted().joined(separator: ", ")))")
            }
            accepted.append(trimmed)
        }
        return accepted
    }

    private static func isSafe(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "."), UInt8(ascii: ","), UInt8(ascii: ":"), UInt8(ascii: "/"), UInt8(ascii: "="), UInt8(ascii: "+"),
             UInt8(ascii: "@"), UInt8(ascii: "_"), UInt8(ascii: "-"):
            true
        default:
            false
        }
    }
}
