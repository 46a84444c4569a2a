import CZlib

/// gzip (RFC 1952) through zlib, for the compression the Connect and gRPC protocols
/// negotiate (`Content-Encoding`/`Accept-Encoding`, `grpc-encoding`).
public enum Gzip {
    /// Why data could not be (de)compressed.
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Thrown when the decompressed data would exceed the limit.
    public struct TooLarge: Error {}

    /// `bytes` compressed.
    public static func compress(_ bytes: [UInt8]) throws -> [UInt8] {
        var stream = z_stream()
        guard nkudo_deflate_init_gzip(&stream, Z_DEFAULT_COMPRESSION) == Z_OK else { throw Failure(description: "deflateInit2 failed") }
        defer { deflateEnd(&stream) }
        return try pump(bytes, through: &stream, limit: .max) { stream in
            let status = deflate(&stream, Z_FINISH)
            guard status == Z_OK || status == Z_BUF_ERROR || status == Z_STREAM_END else {
                throw Failure(description: "deflate failed (\(status))")
            }
            return status == Z_STREAM_END
        }
    }

    /// `bytes` decompressed, at most `limit` bytes of output. Like gzip(1) and Go's reader,
    /// every member of the data is decompressed, one after the other (RFC 1952 §2.2: a gzip
    /// file is a series of members), and anything after the last member is an error.
    ///
    /// - Throws: ``TooLarge`` past the limit, ``Failure`` for data that is not gzip.
    public static func decompress(_ bytes: [UInt8], limit: Int) throws -> [UInt8] {
        var stream = z_stream()
        guard nkudo_inflate_init_gzip(&stream) == Z_OK else { throw Failure(description: "inflateInit2 failed") }
        defer { inflateEnd(&stream) }
        return try pump(bytes, through: &stream, limit: limit) { stream in
            switch inflate(&stream, Z_NO_FLUSH) {
            case Z_STREAM_END:
                guard stream.avail_in > 0 else { return true }
                guard stream.avail_in >= 2, stream.next_in[0] == 0x1F, stream.next_in[1] == 0x8B else {
                    throw Failure(description: "data after the end of the gzip stream")
                }
                guard inflateReset(&stream) == Z_OK else { throw Failure(description: "inflateReset failed") }
                return false
            case Z_OK: return false
            case Z_BUF_ERROR where stream.avail_in == 0: throw Failure(description: "truncated gzip data")
            default: throw Failure(description: "invalid gzip data")
            }
        }
    }

    /// Feeds `bytes` to `stream` and collects its output, 16 KiB at a time: `step` runs
    /// zlib once on the stream and says whether the stream has ended.
    ///
    /// - Throws: ``TooLarge`` when the output passes `limit`; what `step` throws.
    private static func pump(_ bytes: [UInt8], through stream: inout z_stream, limit: Int,
                             step: (inout z_stream) throws -> Bool) throws -> [UInt8] {
        var input = bytes
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        return try input.withUnsafeMutableBufferPointer { inputBuffer in
            stream.next_in = inputBuffer.baseAddress
            stream.avail_in = uInt(inputBuffer.count)
            while true {
                let ended = try chunk.withUnsafeMutableBufferPointer { chunkBuffer in
                    stream.next_out = chunkBuffer.baseAddress
                    stream.avail_out = uInt(chunkBuffer.count)
                    return try step(&stream)
                }
                output.append(contentsOf: chunk[0..<(chunk.count - Int(stream.avail_out))])
                guard output.count <= limit else { throw TooLarge() }
                if ended { return output }
            }
        }
    }
}
