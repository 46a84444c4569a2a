public import Foundation
public import Logging
public import NKudoPKI

/// The control plane's TLS and agent-identity material: the CA that signs agent
/// certificates, the server certificate (issued by that CA, so agents can verify the
/// server with the CA they are given), and the admin key.
///
/// Loaded from the configured files (validated), else generated once and persisted in
/// the data directory with private keys 0600, so a restart keeps every agent valid.
public struct ControlPlanePKI: Sendable {
    /// Signs agent certificates.
    public let authority: CertificateAuthority
    /// The CA PEM given to agents (the loaded file verbatim, or the generated certificate).
    public let caCertificatePEM: String
    /// Server certificate chain, PEM.
    public let serverCertificatePEM: String
    /// Server private key, PEM.
    public let serverKeyPEM: String
    /// The admin key.
    public let adminKey: String
    /// Where the admin key is kept, when it was generated.
    public let adminKeyPath: String?

    /// SHA-256 (hex) of the CA certificate, for agents to pin.
    public var caFingerprint: String { authority.certificate.sha256Fingerprint }

    /// `body`'s result; a PKI error names the setting and the file it was about.
    private static func reading<T>(_ setting: String, _ path: String, _ body: () throws(PKIError) -> T) throws(ConfigurationError) -> T {
        do {
            return try body()
        } catch {
            throw ConfigurationError(setting: setting, reason: "\(path): \(error)")
        }
    }

    /// Loads or generates the material for a configuration.
    public static func load(configuration: ControlPlaneConfiguration, now: Date, logger: Logger) throws -> ControlPlanePKI {
        // The generated PKI and admin key live in the data directory, whatever the store.
        try DataDirectory.prepare(configuration.dataDirectory, logger: logger)
        let pkiDirectory = (configuration.dataDirectory as NSString).appendingPathComponent("pki")
        let authority: CertificateAuthority
        let caPEM: String
        if let certFile = configuration.caCertFile, let keyFile = configuration.caKeyFile {
            caPEM = try Self.reading("CA_CERT_FILE", certFile) { () throws(PKIError) in
                let pem = try PEMFiles.read(certFile)
                _ = try Certificate(pem: pem)
                return pem
            }
            let key = try Self.reading("CA_KEY_FILE", keyFile) { () throws(PKIError) in try PrivateKey(pem: PEMFiles.read(keyFile)) }
            authority = try Self.reading("CA_KEY_FILE", keyFile) { () throws(PKIError) in
                try CertificateAuthority(certificate: Certificate(pem: caPEM), key: key, now: now)
            }
            logger.info("loaded CA", metadata: [ControlPlaneLogKey.file: .string(certFile)])
        } else {
            let certPath = (pkiDirectory as NSString).appendingPathComponent("ca.crt")
            let keyPath = (pkiDirectory as NSString).appendingPathComponent("ca.key")
            if FileManager.default.fileExists(atPath: certPath) {
                caPEM = try PEMFiles.read(certPath)
                authority = try CertificateAuthority(certificate: Certificate(pem: caPEM), key: PrivateKey(pem: PEMFiles.read(keyPath)), now: now)
            } else {
                authority = try CertificateAuthority.generate(commonName: configuration.caCommonName, validity: 10 * 365 * 86400, now: now)
                caPEM = try authority.certificate.pem()
                try PEMFiles.writeSecret(try authority.key.pkcs8PEM(), to: keyPath)
                try PEMFiles.write(caPEM, to: certPath)
                logger.notice("generated a CA", metadata: [ControlPlaneLogKey.path: .string(certPath)])
            }
        }
        let serverCertificatePEM: String
        let serverKeyPEM: String
        if let certFile = configuration.serverCertFile, let keyFile = configuration.serverKeyFile {
            serverCertificatePEM = try Self.reading("SERVER_CERT_FILE", certFile) { () throws(PKIError) in try PEMFiles.read(certFile) }
            serverKeyPEM = try Self.reading("SERVER_KEY_FILE", keyFile) { () throws(PKIError) in try PEMFiles.read(keyFile) }
            let certificate = try Self.reading("SERVER_CERT_FILE", certFile) { () throws(PKIError) in try Certificate(pem: serverCertificatePEM) }
            let key = try Self.reading("SERVER_KEY_FILE", keyFile) { () throws(PKIError) in try PrivateKey(pem: serverKeyPEM) }
            guard certificate.matches(key) else {
                throw ConfigurationError(setting: "SERVER_KEY_FILE", reason: "the key does not match SERVER_CERT_FILE")
            }
            guard certificate.isValid(at: now) else {
                throw ConfigurationError(setting: "SERVER_CERT_FILE", reason: "the certificate is not valid now (expired or not yet valid)")
            }
            guard Self.chains(try Certificate.chain(pem: serverCertificatePEM), to: authority.certificate) else {
                throw ConfigurationError(setting: "SERVER_CERT_FILE", reason: """
                    the certificate does not chain to the CA agents are given (\(configuration.caCertFile ?? "the generated CA")): \
                    agents verify the server against that CA only
                    """)
            }
        } else {
            let certPath = (pkiDirectory as NSString).appendingPathComponent("server.crt")
            let keyPath = (pkiDirectory as NSString).appendingPathComponent("server.key")
            let existing = try? Certificate(pem: PEMFiles.read(certPath))
            if let existing, existing.isIssued(by: authority.certificate), existing.isValid(at: now.addingTimeInterval(7 * 86400)),
               Set(existing.subjectAlternativeNames).isSuperset(of: configuration.serverCertificateNames) {
                serverCertificatePEM = try PEMFiles.read(certPath)
                serverKeyPEM = try PEMFiles.read(keyPath)
            } else {
                let key = try PrivateKey.generateP256()
                let names = configuration.serverCertificateNames
                // The SANs name the server; the CN (at most 64 characters) is only a label.
                let certificate = try authority.issueServerCertificate(
                    key: key, commonName: names.first { $0.utf8.count <= 64 } ?? "n-kudo control plane",
                    dnsNames: names.filter { !Self.isIPAddress($0) }, ipAddresses: names.filter(Self.isIPAddress),
                    validity: 365 * 86400, now: now)
                serverCertificatePEM = try certificate.pem()
                serverKeyPEM = try key.pkcs8PEM()
                try PEMFiles.writeSecret(serverKeyPEM, to: keyPath)
                try PEMFiles.write(serverCertificatePEM, to: certPath)
                logger.notice("issued a server certificate", metadata: [ControlPlaneLogKey.names: .string(names.joined(separator: ","))])
            }
        }
        var adminKey = configuration.adminKey
        var adminKeyPath: String?
        if adminKey == nil {
            let path = (configuration.dataDirectory as NSString).appendingPathComponent("admin.key")
            if let stored = try? PEMFiles.read(path), !stored.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                adminKey = stored.trimmingCharacters(in: .whitespacesAndNewlines)
            } else {
                let generated = "nka_" + SecureRandom.token()
                try PEMFiles.writeSecret(generated + "\n", to: path)
                adminKey = generated
            }
            adminKeyPath = path
        }
        return ControlPlanePKI(authority: authority, caCertificatePEM: caPEM, serverCertificatePEM: serverCertificatePEM,
                               serverKeyPEM: serverKeyPEM, adminKey: adminKey ?? "", adminKeyPath: adminKeyPath)
    }

    /// Whether the leaf (first) certificate of `chain` is issued by `authority`, directly
    /// or through the intermediates that follow it.
    static func chains(_ chain: [Certificate], to authority: Certificate) -> Bool {
        guard var current = chain.first else { return false }
        for _ in 0..<chain.count {
            if current.isIssued(by: authority) { return true }
            guard let issuer = chain.first(where: { $0 != current && current.isIssued(by: $0) }) else { return false }
            current = issuer
        }
        return false
    }

    static func isIPAddress(_ text: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, text, &v4) == 1 || inet_pton(AF_INET6, text, &v6) == 1
    }
}
