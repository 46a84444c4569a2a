/// The status codes gRPC and Connect share: Connect names them (`not_found`), gRPC
/// numbers them (5). ``APIError/code`` holds the Connect name; the gRPC transports send
/// the number.
enum RPCStatusCodes {
    /// The gRPC number of each Connect code.
    static let numbers: [String: Int] = [
        "canceled": 1, "unknown": 2, "invalid_argument": 3, "deadline_exceeded": 4, "not_found": 5,
        "already_exists": 6, "permission_denied": 7, "resource_exhausted": 8, "failed_precondition": 9,
        "aborted": 10, "out_of_range": 11, "unimplemented": 12, "internal": 13, "unavailable": 14,
        "data_loss": 15, "unauthenticated": 16,
    ]

    /// The gRPC status number of a Connect code (2 `unknown` for codes we do not know).
    static func grpcStatus(_ code: String) -> Int { numbers[code] ?? 2 }

    /// `grpc-message`: the message percent-encoded (RFC 3986 unreserved characters, space
    /// and printable ASCII other than `%` stay as they are).
    static func percentEncoded(_ message: String) -> String {
        var result = ""
        for byte in message.utf8 {
            if byte >= 0x20 && byte <= 0x7E && byte != UInt8(ascii: "%") {
                result.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                result += "%" + String(byte >> 4, radix: 16, uppercase: true) + String(byte & 0xF, radix: 16, uppercase: true)
            }
        }
        return result
    }
}

/// Request deadlines as the protocols carry them.
enum RPCTimeout {
    /// `grpc-timeout`: 1–8 digits and a unit (`H`, `M`, `S`, `m`, `u`, `n`); nil when malformed.
    static func grpc(_ header: String) -> Duration? {
        guard let unit = header.last, (2...9).contains(header.count) else { return nil }
        let digits = header.dropLast()
        guard digits.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int64(digits) else { return nil }
        switch unit {
        case "H": return .seconds(value * 3600)
        case "M": return .seconds(value * 60)
        case "S": return .seconds(value)
        case "m": return .milliseconds(value)
        case "u": return .microseconds(value)
        case "n": return .nanoseconds(value)
        default: return nil
        }
    }

    /// `Connect-Timeout-Ms`: 1–10 digits of milliseconds; nil when malformed.
    static func connect(_ header: String) -> Duration? {
        guard (1...10).contains(header.count), header.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int64(header) else { return nil }
        return .milliseconds(value)
    }
}
