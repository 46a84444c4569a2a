#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// C strings that live as long as the process: the names inside libprotobuf-c
/// descriptors, which are built once per message type and never freed.
enum CStrings {
    /// A NUL-terminated copy of `string` that is never freed.
    static func immortal(_ string: String) -> UnsafePointer<CChar> {
        UnsafePointer(strdup(string)!)
    }
}
