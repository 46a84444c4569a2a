public import NKudoWire

/// Where and how the CLI talks to a control plane: the base URL, the CA it verifies the
/// server against, the credentials, the wire format.
public struct ConnectionSettings: Sendable {
    /// `https://host[:port]` (a path prefix is kept; no trailing `/`).
    public var baseURL: String
    /// PEM of the pinned CA certificate; the server's chain must end in it.
    public var caCertificatePEM: String
    /// Lower-case hex SHA-256 of the pinned CA's DER, for messages.
    public var caFingerprint: String?
    /// The tenant API key (`X-API-Key`), for tenant routes.
    public var apiKey: String?
    /// The operator key (`X-Admin-Key`), for admin routes.
    public var adminKey: String?
    /// Request and response encoding.
    public var format: WireFormat
    /// Time limit of one request, in seconds (long polls add their wait).
    public var timeoutSeconds: Int

    /// Creates settings; `baseURL` loses trailing slashes.
    public init(baseURL: String, caCertificatePEM: String, caFingerprint: String? = nil, apiKey: String? = nil,
                adminKey: String? = nil, format: WireFormat = .json, timeoutSeconds: Int = 30) {
        var url = baseURL.trimmingCharacters(in: " \t")
        while url.hasSuffix("/") { url.removeLast() }
        self.baseURL = url
        self.caCertificatePEM = caCertificatePEM
        self.caFingerprint = caFingerprint
        self.apiKey = apiKey
        self.adminKey = adminKey
        self.format = format
        self.timeoutSeconds = timeoutSeconds
    }
}

extension String {
    func trimmingCharacters(in set: String) -> String {
        var result = Substring(self)
        while let first = result.first, set.contains(first) { result.removeFirst() }
        while let last = result.last, set.contains(last) { result.removeLast() }
        return String(result)
    }
}
