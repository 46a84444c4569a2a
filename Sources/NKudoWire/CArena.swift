#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Owns the C memory of one message being packed: every block is zero-filled by
/// `calloc` and freed together when the arena goes away.
///
/// Used only while a message is laid out for `protobuf_c_message_pack`; pointers into
/// it never leave the binary codec.
final class CArena {
    private var blocks: [UnsafeMutableRawPointer] = []

    deinit {
        for block in blocks {
            free(block)
        }
    }

    /// A zero-filled block of `size` bytes, aligned for any C type.
    func allocate(_ size: Int) throws(WireError) -> UnsafeMutableRawPointer {
        guard let block = calloc(1, max(size, 1)) else {
            throw WireError(code: .internalFailure, messageName: "", reason: "out of memory")
        }
        blocks.append(block)
        return block
    }

    /// A copy of `bytes` in arena memory (nil for an empty collection).
    func copy(_ bytes: some Collection<UInt8>) throws(WireError) -> UnsafeMutablePointer<UInt8>? {
        if bytes.isEmpty { return nil }
        let block = try allocate(bytes.count).bindMemory(to: UInt8.self, capacity: bytes.count)
        _ = UnsafeMutableBufferPointer(start: block, count: bytes.count).initialize(from: bytes)
        return block
    }
}
