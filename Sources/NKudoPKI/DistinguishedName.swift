internal import COpenSSL

/// An X.509 name being put together for a request or certificate.
final class DistinguishedName {
    private let name: OpaquePointer

    /// A name made of `attributes` in order, each an OpenSSL NID and a UTF-8 value.
    ///
    /// - Throws: `.policy` when a value is empty, longer than 64 characters (the X.520
    ///   upper bound of CN and O) or holds control characters.
    init(_ attributes: [(nid: Int32, value: String)]) throws(PKIError) {
        for (nid, value) in attributes {
            let label = OBJ_nid2sn(nid).map { String(cString: $0) } ?? "attribute"
            let length = value.unicodeScalars.count
            guard (1...64).contains(length) else {
                throw PKIError(code: .policy, message: "\(label) must be 1 to 64 characters long, not \(length)")
            }
            guard !value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
                throw PKIError(code: .policy, message: "\(label) must not contain control characters")
            }
        }
        name = try OpenSSLCall.check(X509_NAME_new(), .openssl, "cannot allocate a name")
        for (nid, value) in attributes {
            let bytes = Array(value.utf8)
            let added = X509_NAME_add_entry_by_NID(name, nid, MBSTRING_UTF8, bytes, Int32(bytes.count), -1, 0)
            try OpenSSLCall.check(added == 1, .policy, "cannot use \"\(value)\" in a name")
        }
    }

    deinit {
        X509_NAME_free(name)
    }

    /// Lends the `X509_NAME *` to `body`; it must not escape.
    func withUnsafeNamePointer<Result, Failure: Error>(
        _ body: (OpaquePointer) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        try body(name)
    }
}
