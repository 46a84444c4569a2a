/// Why a PKI operation failed.
///
/// The message is written for a person: it says what was being done and, when
/// OpenSSL reported a reason, appends it. It never contains key material.
public struct PKIError: Error, Sendable, Hashable, CustomStringConvertible {
    /// An opaque, stable category of the failure.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        let rawValue: String

        public var description: String { rawValue }

        /// The input is not a valid PEM (or DER) encoding of the expected object.
        public static let invalidPEM = Code(rawValue: "invalid_pem")
        /// The certificate signing request is structurally unusable (e.g. it has no public key).
        public static let invalidCSR = Code(rawValue: "invalid_csr")
        /// The input is well formed but breaks a rule of this PKI (key type or size, name, validity).
        public static let policy = Code(rawValue: "policy")
        /// A signature does not verify.
        public static let signature = Code(rawValue: "signature")
        /// A private key does not belong to the certificate it was paired with.
        public static let mismatch = Code(rawValue: "mismatch")
        /// A certificate used as a certificate authority is not marked as one.
        public static let notCA = Code(rawValue: "not_ca")
        /// A certificate is not valid at the time in question.
        public static let notValidNow = Code(rawValue: "not_valid_now")
        /// Reading or writing a file failed.
        public static let io = Code(rawValue: "io")
        /// OpenSSL failed in a way none of the other codes describes.
        public static let openssl = Code(rawValue: "openssl")
    }

    /// The category of the failure.
    public let code: Code
    /// What went wrong, for a person; OpenSSL's reason is appended when there is one.
    public let message: String

    /// Creates an error.
    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}
