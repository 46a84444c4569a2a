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
        var input = bytes
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        return try input.withUnsafeMutableBufferPointer { inputBuffer in
            stream.next_in = inputBuffer.baseAddress
            stream.avail_in = uInt(inputBuffer.count)
            while true {
                let status = chunk.withUnsafeMutableBufferPointer { chunkBuffer in
                    stream.next_out = chunkBuffer.baseAddress
                    stream.avail_out = uInt(chunkBuffer.count)
                    return deflate(&stream, Z_FINISH)
                }
                output.append(contentsOf: chunk[0..<(chunk.count - Int(stream.avail_out))])
                if status == Z_STREAM_END { return output }
                guard status == Z_OK || status == Z_BUF_ERROR else { throw Failure(description: "deflate failed (\(status))") }
            }
        }
    }

    /// `bytes` decompressed, at most `limit` bytes of output.
    ///
    /// - Throws: ``TooLarge`` past the limit, ``Failure`` for data that is not gzip.
    public static func decompress(_ bytes: [UInt8], limit: Int) throws -> [UInt8] {
        var stream = z_stream()
        guard nkudo_inflate_init_gzip(&stream) == Z_OK else { throw Failure(description: "inflateInit2 failed") }
        defer { inflateEnd(&stream) }
        var input = bytes
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        return try input.withUnsafeMutableBufferPointer { inputBuffer in
            stream.next_in = inputBuffer.baseAddress
            stream.avail_in = uInt(inputBuffer.count)
            while true {
                let status = chunk.withUnsafeMutableBufferPointer { chunkBuffer in
                    stream.next_out = chunkBuffer.baseAddress
                    stream.avail_out = uInt(chunkBuffer.count)
                    return inflate(&stream, Z_NO_FLUSH)
                }
                output.append(contentsOf: chunk[0..<(chunk.count - Int(stream.avail_out))])
                guard output.count <= limit else { throw TooLarge() }
                switch status {
                case Z_STREAM_END:
                    return output
                case Z_OK:
                    continue
                case Z_BUF_ERROR where stream.avail_in == 0:
                    throw Failure(description: "truncated gzip data")
                default:
                    throw Failure(description: "invalid gzip data")
                }
            }
        }
    }
}
