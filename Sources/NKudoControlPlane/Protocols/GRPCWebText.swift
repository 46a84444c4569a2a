import Foundation

/// gRPC-Web's text mode (`application/grpc-web-text`): the framed body in base64, which
/// browser clients send by default. The grpc-web protocol lets a sender encode each chunk
/// on its own, padding included, so padding may come in the middle of a body: it is decoded
/// in 4-character groups, each complete in itself. Nothing but the base64 alphabet and its
/// padding is accepted (no line breaks, no URL-safe alphabet).
enum GRPCWebText {
    /// Why a text body cannot be decoded.
    enum Failure: Error, Equatable {
        /// A byte outside the base64 alphabet, or padding where no padding can be.
        case invalidCharacter(offset: Int)
        /// The text ends inside a 4-character group.
        case truncated
    }

    /// The bytes of the complete 4-character groups of `text`, and how many characters of
    /// it that used (a streamed body keeps the rest for its next chunk).
    static func decodeGroups(_ text: ArraySlice<UInt8>) throws(Failure) -> (bytes: [UInt8], consumed: Int) {
        let groups = text.count / 4
        var bytes: [UInt8] = []
        bytes.reserveCapacity(groups * 3)
        var index = text.startIndex
        for _ in 0..<groups {
            var quantum: UInt32 = 0
            var padding = 0
            for position in 0..<4 {
                let character = text[index]
                index += 1
                if character == UInt8(ascii: "=") {
                    guard position >= 2 else { throw .invalidCharacter(offset: index - 1 - text.startIndex) }
                    padding += 1
                    quantum <<= 6
                    continue
                }
                guard padding == 0, let value = sextet(character) else {
                    throw .invalidCharacter(offset: index - 1 - text.startIndex)
                }
                quantum = quantum << 6 | UInt32(value)
            }
            bytes.append(UInt8(quantum >> 16))
            if padding < 2 { bytes.append(UInt8(quantum >> 8 & 0xFF)) }
            if padding < 1 { bytes.append(UInt8(quantum & 0xFF)) }
        }
        return (bytes, groups * 4)
    }

    /// The bytes of a complete text body.
    static func decode(_ text: [UInt8]) throws(Failure) -> [UInt8] {
        let decoded = try decodeGroups(text[...])
        guard decoded.consumed == text.count else { throw .truncated }
        return decoded.bytes
    }

    /// `bytes` in base64 with padding: one chunk of a response body (Foundation's encoder,
    /// as the JSON writer's `bytes` fields use).
    static func encode(_ bytes: [UInt8]) -> [UInt8] {
        Array(Data(bytes).base64EncodedString().utf8)
    }

    private static func sextet(_ character: UInt8) -> UInt8? {
        switch character {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): character - UInt8(ascii: "A")
        case UInt8(ascii: "a")...UInt8(ascii: "z"): character - UInt8(ascii: "a") + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): character - UInt8(ascii: "0") + 52
        case UInt8(ascii: "+"): 62
        case UInt8(ascii: "/"): 63
        default: nil
        }
    }
}
