#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Strings from the bytes of a decoded `string` field: valid UTF-8 without NUL (which
/// the C side cannot carry), checked 8 bytes at a time while the text is ASCII.
enum UTF8Text {
    enum Failure: Error { case nul, invalidUTF8 }

    /// The text of `bytes`, or why it is refused (a NUL wins over invalid UTF-8).
    static func decode(_ bytes: UnsafeRawBufferPointer) -> Result<String, Failure> {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return .success("") }
        let count = bytes.count
        var position = 0
        var ascii = true
        // Word at a time: a set high bit ends the ASCII fast path; a zero byte is a NUL.
        while count - position >= 8 {
            let word = (base + position).loadUnaligned(as: UInt64.self)
            if word & 0x8080_8080_8080_8080 != 0 {
                ascii = false
                break
            }
            if (word &- 0x0101_0101_0101_0101) & ~word & 0x8080_8080_8080_8080 != 0 { return .failure(.nul) }
            position += 8
        }
        if ascii {
            while position < count {
                let byte = bytes[position]
                if byte >= 0x80 {
                    ascii = false
                    break
                }
                if byte == 0 { return .failure(.nul) }
                position += 1
            }
        }
        if ascii {
            return .success(repairing(bytes))
        }
        if memchr(base + position, 0, count - position) != nil { return .failure(.nul) }
        guard let string = String(validating: bytes.bindMemory(to: UInt8.self), as: UTF8.self) else {
            return .failure(.invalidUTF8)
        }
        return .success(string)
    }

    /// The text of UTF-8 bytes already known to be valid (invalid sequences would be
    /// replaced), through the standard library's contiguous fast path.
    static func repairing(_ bytes: UnsafeRawBufferPointer) -> String {
        guard let base = bytes.baseAddress else { return "" }
        return String(decoding: UnsafeBufferPointer(start: base.assumingMemoryBound(to: UInt8.self), count: bytes.count), as: UTF8.self)
    }

    /// ``decode(_:)`` with the failure as the decoder's error for that field.
    static func string(_ bytes: UnsafeRawBufferPointer, messageName: @autoclosure () -> String,
                       field: @autoclosure () -> String) throws(WireError) -> String {
        switch decode(bytes) {
        case .success(let string):
            return string
        case .failure(.nul):
            throw WireError(code: .invalidString, messageName: messageName(), location: field(),
                            reason: "string contains a NUL character")
        case .failure(.invalidUTF8):
            throw WireError(code: .invalidString, messageName: messageName(), location: field(),
                            reason: "string is not valid UTF-8")
        }
    }
}
