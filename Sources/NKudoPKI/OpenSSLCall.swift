internal import COpenSSL

/// The one place where OpenSSL results become Swift errors.
///
/// Every OpenSSL call of this module hands its result to `check`. On failure the
/// thread's OpenSSL error queue is drained at once, so a later failure never reports
/// a stale reason, and the library and reason strings are appended to the message.
/// The queue's free-form data strings are not used: they may echo input.
enum OpenSSLCall {
    /// Throws an error of `code` unless `succeeded`.
    static func check(
        _ succeeded: Bool,
        _ code: PKIError.Code,
        _ what: @autoclosure () -> String
    ) throws(PKIError) {
        guard succeeded else {
            throw failure(code, what())
        }
    }

    /// Returns `value`, or throws an error of `code` when OpenSSL returned NULL.
    static func check<Value>(
        _ value: Value?,
        _ code: PKIError.Code,
        _ what: @autoclosure () -> String
    ) throws(PKIError) -> Value {
        guard let value else {
            throw failure(code, what())
        }
        return value
    }

    /// For queries that answer yes or no: returns `succeeded`; on failure the error
    /// queue is drained like for any other failure, and the reason discarded.
    static func query(_ succeeded: Bool) -> Bool {
        do {
            try check(succeeded, .openssl, "query")
            return true
        } catch {
            return false
        }
    }

    /// Whether the pending error only says that a PEM reader found no further block.
    /// If so, the queue is drained: running out of blocks is how reading a chain ends.
    static func consumeEndOfPEMInput() -> Bool {
        let pending = ERR_peek_last_error()
        guard ERR_GET_LIB(pending) == ERR_LIB_PEM, ERR_GET_REASON(pending) == PEM_R_NO_START_LINE else {
            return false
        }
        _ = query(false)
        return true
    }

    /// The error for a failed call: `what` plus the reasons drained from the error queue.
    static func failure(_ code: PKIError.Code, _ what: String) -> PKIError {
        var reasons: [String] = []
        while true {
            let error = ERR_get_error()
            if error == 0 {
                break
            }
            let reason = ERR_reason_error_string(error).map { String(cString: $0) }
                ?? "reason \(ERR_GET_REASON(error))"
            let text = ERR_lib_error_string(error).map { "\(String(cString: $0)): \(reason)" } ?? reason
            if !reasons.contains(text) {
                reasons.append(text)
            }
        }
        if reasons.isEmpty {
            return PKIError(code: code, message: what)
        }
        return PKIError(code: code, message: "\(what) (\(reasons.joined(separator: "; ")))")
    }
}

/// Passphrase callback given to every PEM reader: encrypted PEM is refused rather
/// than prompting on the controlling terminal, which a server must never do.
func refusePassphrase(
    _ buffer: UnsafeMutablePointer<CChar>?,
    _ size: Int32,
    _ writing: Int32,
    _ userData: UnsafeMutableRawPointer?
) -> Int32 {
    -1
}

/// An OpenSSL memory BIO: PEM text goes into OpenSSL and comes back out through it.
final class MemoryBIO {
    private let bio: OpaquePointer

    /// An empty BIO, to write PEM into.
    init() throws(PKIError) {
        bio = try OpenSSLCall.check(BIO_new(BIO_s_mem()), .openssl, "cannot allocate a memory BIO")
    }

    /// A BIO holding a copy of the UTF-8 bytes of `text`, to read PEM from.
    convenience init(copying text: String) throws(PKIError) {
        try self.init()
        let bytes = Array(text.utf8)
        guard bytes.count <= Int(Int32.max) else {
            throw PKIError(code: .invalidPEM, message: "PEM text of \(bytes.count) bytes is too large")
        }
        if bytes.isEmpty {
            return
        }
        let written = bytes.withUnsafeBytes { BIO_write(bio, $0.baseAddress, Int32($0.count)) }
        try OpenSSLCall.check(written == Int32(bytes.count), .openssl, "cannot buffer PEM text")
    }

    deinit {
        BIO_free(bio)
    }

    /// Lends the `BIO *` to `body`; it must not escape.
    func withUnsafeBIOPointer<Result, Failure: Error>(
        _ body: (OpaquePointer) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        try body(bio)
    }

    /// Everything written into the BIO, as text.
    func text() throws(PKIError) -> String {
        var data: UnsafeMutablePointer<CChar>?
        let count = nkudo_BIO_get_mem_data(bio, &data)
        try OpenSSLCall.check(count >= 0, .openssl, "cannot read a memory BIO")
        guard let data, count > 0 else {
            return ""
        }
        return String(decoding: UnsafeRawBufferPointer(start: data, count: count), as: UTF8.self)
    }
}

/// Writes one object as PEM through `write` (e.g. `PEM_write_bio_X509`).
func pemText(_ what: String, _ write: (OpaquePointer) -> Int32) throws(PKIError) -> String {
    let bio = try MemoryBIO()
    let written = bio.withUnsafeBIOPointer(write)
    try OpenSSLCall.check(written == 1, .openssl, "cannot encode the \(what) as PEM")
    return try bio.text()
}

/// Reads the first PEM block `read` accepts from `text` (e.g. `PEM_read_bio_X509`);
/// lines before it are skipped.
func pemObject(
    _ what: String,
    from text: String,
    _ read: (OpaquePointer) -> OpaquePointer?
) throws(PKIError) -> OpaquePointer {
    let bio = try MemoryBIO(copying: text)
    return try OpenSSLCall.check(
        bio.withUnsafeBIOPointer(read),
        .invalidPEM,
        "no valid \(what) PEM block found"
    )
}
