internal import CProtobufC

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Owns the C memory of one message being packed or unpacked: a bump allocator over a
/// few large `malloc`ed chunks, all freed together when the arena goes away.
///
/// A message of any size costs a handful of allocations instead of one per string,
/// nested message and array. Packing lays the message out in it; unpacking hands it to
/// `protobuf_c_message_unpack` as its allocator (``unpackAllocator``), whose frees are
/// no-ops. Pointers into it never leave the binary codec. The hot path works on
/// ``state`` (plain memory, no reference counting).
final class CArena {
    /// The bump state; chunks are chained through their first word.
    struct State {
        var next: UnsafeMutableRawPointer?
        var remaining = 0
        var nextChunkSize: Int
        /// Bytes handed out so far (a size hint for the next arena of the same kind).
        var used = 0
        var lastChunk: UnsafeMutableRawPointer?
    }

    let state: UnsafeMutablePointer<State>

    /// Every block is aligned like `malloc`'s; a chunk starts with a header this size.
    private static let alignment = 16

    /// An arena whose first chunk holds `capacity` bytes.
    init(capacity: Int = 4096) {
        state = UnsafeMutablePointer<State>.allocate(capacity: 1)
        state.initialize(to: State(nextChunkSize: max(capacity, 256)))
    }

    deinit {
        var chunk = state.pointee.lastChunk
        while let current = chunk {
            chunk = current.load(as: UnsafeMutableRawPointer?.self)
            free(current)
        }
        state.deinitialize(count: 1)
        state.deallocate()
    }

    var used: Int { state.pointee.used }

    /// An uninitialized block of `size` bytes, or nil when memory is exhausted.
    static func allocateOrNil(_ state: UnsafeMutablePointer<State>, _ size: Int) -> UnsafeMutableRawPointer? {
        let rounded = (max(size, 1) + alignment - 1) & ~(alignment - 1)
        if rounded > state.pointee.remaining {
            let chunkSize = max(state.pointee.nextChunkSize, rounded)
            guard let chunk = malloc(chunkSize + alignment) else { return nil }
            chunk.storeBytes(of: state.pointee.lastChunk, as: UnsafeMutableRawPointer?.self)
            state.pointee.lastChunk = chunk
            state.pointee.next = chunk + alignment
            state.pointee.remaining = chunkSize
            state.pointee.nextChunkSize = min(chunkSize * 2, 1 << 22)
        }
        let block = state.pointee.next!
        state.pointee.next = block + rounded
        state.pointee.remaining -= rounded
        state.pointee.used += rounded
        return block
    }

    /// A zero-filled block of `size` bytes.
    static func allocate(_ state: UnsafeMutablePointer<State>, _ size: Int) throws(WireError) -> UnsafeMutableRawPointer {
        guard let block = allocateOrNil(state, size) else {
            throw WireError(code: .internalFailure, messageName: "", reason: "out of memory")
        }
        memset(block, 0, size)
        return block
    }

    /// `protobuf_c_message_unpack`'s allocator over this arena. Valid while the arena lives.
    var unpackAllocator: ProtobufCAllocator {
        ProtobufCAllocator(
            alloc: { data, size in
                CArena.allocateOrNil(data!.assumingMemoryBound(to: State.self), size)
            },
            free: { _, _ in },
            allocator_data: UnsafeMutableRawPointer(state))
    }
}
