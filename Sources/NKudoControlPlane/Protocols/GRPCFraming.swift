import Hummingbird
import NIOCore

/// The length-prefixed framing of gRPC and gRPC-Web bodies: a flags byte (bit 0: the
/// message is compressed; bit 7: gRPC-Web trailers), a 4-byte big-endian length, then
/// the message.
enum GRPCFraming {
    /// Flag of a compressed message.
    static let compressedFlag: UInt8 = 0x01
    /// Flag of a gRPC-Web trailers frame.
    static let trailersFlag: UInt8 = 0x80

    /// One frame.
    struct Frame: Sendable, Equatable {
        let flags: UInt8
        let payload: [UInt8]
        var isCompressed: Bool { flags & GRPCFraming.compressedFlag != 0 }
    }

    /// What is wrong with a framed body.
    enum Failure: Error, Equatable {
        /// The body ends inside a frame.
        case truncated
        /// A frame declares more than the limit.
        case tooLarge(declared: Int, limit: Int)
        /// A flags byte with bits we do not know.
        case unknownFlags(UInt8)
    }

    /// Every frame of a complete body; messages larger than `limit` are refused by their
    /// declared length, before they are read.
    static func frames(_ bytes: [UInt8], limit: Int) throws(Failure) -> [Frame] {
        var frames: [Frame] = []
        var offset = 0
        while offset < bytes.count {
            guard bytes.count - offset >= 5 else { throw .truncated }
            let frame = try header(bytes[offset..<offset + 5], limit: limit)
            offset += 5
            guard bytes.count - offset >= frame.length else { throw .truncated }
            frames.append(Frame(flags: frame.flags, payload: Array(bytes[offset..<offset + frame.length])))
            offset += frame.length
        }
        return frames
    }

    /// The flags and length of a 5-byte frame header.
    static func header(_ bytes: ArraySlice<UInt8>, limit: Int) throws(Failure) -> (flags: UInt8, length: Int) {
        let start = bytes.startIndex
        let flags = bytes[start]
        guard flags & ~(compressedFlag | trailersFlag) == 0 else { throw .unknownFlags(flags) }
        let length = Int(bytes[start + 1]) << 24 | Int(bytes[start + 2]) << 16 | Int(bytes[start + 3]) << 8 | Int(bytes[start + 4])
        guard length <= limit else { throw .tooLarge(declared: length, limit: limit) }
        return (flags, length)
    }

    /// `payload` framed.
    static func frame(_ payload: [UInt8], flags: UInt8 = 0) -> [UInt8] {
        let length = UInt32(payload.count)
        return [flags, UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)] + payload
    }
}

/// Reads frames one by one from a streamed request body (the streaming reflection RPC).
struct GRPCFrameReader {
    private var iterator: RequestBody.AsyncIterator
    private var buffer: [UInt8] = []
    /// gRPC-Web's text mode: base64 characters of an incomplete group, kept for the next chunk.
    private var pendingText: [UInt8]?
    /// gRPC-Web's text mode: the characters decoded so far, for the offset of an error.
    private var decodedText = 0
    private let limit: Int

    /// A reader of `body`; `text`: the body is in base64 (``GRPCWebText``).
    init(_ body: RequestBody, limit: Int, text: Bool = false) {
        self.iterator = body.makeAsyncIterator()
        self.limit = limit
        self.pendingText = text ? [] : nil
    }

    /// The next frame; nil at the end of the body.
    mutating func next() async throws -> GRPCFraming.Frame? {
        while true {
            if buffer.count >= 5 {
                let header = try GRPCFraming.header(buffer[0..<5], limit: limit)
                if buffer.count >= 5 + header.length {
                    let frame = GRPCFraming.Frame(flags: header.flags, payload: Array(buffer[5..<5 + header.length]))
                    buffer.removeFirst(5 + header.length)
                    return frame
                }
            }
            guard let chunk = try await iterator.next() else {
                if pendingText?.isEmpty == false { throw GRPCWebText.Failure.truncated }
                if buffer.isEmpty { return nil }
                throw GRPCFraming.Failure.truncated
            }
            if var text = pendingText {
                text.append(contentsOf: chunk.readableBytesView)
                let decoded: (bytes: [UInt8], consumed: Int)
                do {
                    decoded = try GRPCWebText.decodeGroups(text[...])
                } catch .invalidCharacter(let offset) {
                    throw GRPCWebText.Failure.invalidCharacter(offset: decodedText + offset)
                } catch {
                    throw error
                }
                buffer.append(contentsOf: decoded.bytes)
                decodedText += decoded.consumed
                pendingText = Array(text[decoded.consumed...])
            } else {
                buffer.append(contentsOf: chunk.readableBytesView)
            }
        }
    }
}
