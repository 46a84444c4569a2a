import ArgumentParser
import Foundation
import Logging
import NKudoContract
import NKudoEdge
import NKudoTrust

/// `nkudo-edge`: the edge agent of n-kudo (started by `main.swift`).
struct NKudoEdgeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nkudo-edge",
        abstract: "The n-kudo edge agent: enrolls a host and runs microVM plans through Cloud Hypervisor.",
        discussion: """
            Talks to the control plane with the contract's generated client over mTLS \
            (binary protobuf by default). Exit status: 0 on success, 64 for a wrong flag or value (with the usage), 1 with a one-line reason on stderr otherwise.
            """,
        version: NKudoVersion.current,
        subcommands: [Enroll.self, Run.self, HostFactsCommand.self, Apply.self, VerifyHeartbeat.self, Version.self]
    )

    /// A usage error naming `--control-plane` when `url` breaks ``ControlPlaneURL``'s rules.
    static func checkControlPlaneURL(_ url: String) throws {
        do {
            _ = try ControlPlaneURL.hostAndPort(url)
        } catch {
            throw ValidationError("--control-plane \(error): \(url)")
        }
    }
}

/// Options every subcommand that talks to the control plane shares.
struct CommonOptions: ParsableArguments {
    @Option(name: .customLong("pki-dir"), help: "Directory of the agent identity (agent-identity.json 0600, client.key 0600, client.crt, ca.crt).")
    var pkiDirectory = "/var/lib/nkudo-edge/pki"

    @Option(name: .customLong("state-dir"), help: "Directory of the agent's state (state.sqlite: ledger, outbox, VM snapshots).")
    var stateDirectory = "/var/lib/nkudo-edge/state"

    @Option(help: "Body format on the wire: binary (protobuf) or json.")
    var wire: WireChoice = .binary

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel = "info"

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
    }

    func logger() -> Logger {
        Self.bootstrapLogging(level: Logger.Level(rawValue: logLevel) ?? .info)
    }

    /// Sends every log line to stderr at `level` and up; returns the agent's logger.
    static func bootstrapLogging(level: Logger.Level) -> Logger {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        return Logger(label: "nkudo.edge")
    }
}

/// `--transport rest|connect|grpc`.
enum TransportChoice: String, ExpressibleByArgument, CaseIterable {
    case rest, connect, grpc

    var `protocol`: ControlPlaneProtocol {
        switch self {
        case .rest: return .rest
        case .connect: return .connect
        case .grpc: return .grpc
        }
    }
}

/// `--wire binary|json`.
enum WireChoice: String, ExpressibleByArgument, CaseIterable {
    case binary, json

    var format: WireFormat { self == .binary ? .binary : .json }
}

extension NKudoEdgeCommand {
    /// `enroll`: trade a one-time token for an mTLS identity.
    struct Enroll: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Enroll this host with a one-time token and store its mTLS identity.",
            discussion: """
                The token is read from --token-file or the NKUDO_ENROLL_TOKEN environment variable (--token also works \
                but shows the secret in the process list). The server is trusted through --ca-fingerprint (printed by \
                the control plane and returned with the token) or --ca-file; --insecure-skip-verify is for development only.
                """)

        @Option(name: .customLong("control-plane"), help: "Base URL of the control plane, e.g. https://cp.example.com:8443.")
        var controlPlane: String

        @Option(help: ArgumentHelp("Enrollment token (prefer --token-file or NKUDO_ENROLL_TOKEN).", visibility: .default))
        var token: String?

        @Option(name: .customLong("token-file"), help: "File holding the enrollment token.")
        var tokenFile: String?

        @Option(help: "Hostname to register (default: this machine's host name).")
        var hostname: String?

        @Option(name: .customLong("ca-fingerprint"), help: "SHA-256 fingerprint of the control plane's CA (sha256:…), pinned on first contact.")
        var caFingerprint: String?

        @Option(name: .customLong("ca-file"), help: "PEM file of the control plane's CA.")
        var caFile: String?

        @Flag(name: .customLong("insecure-skip-verify"), help: "Do not verify the control plane's certificate. DEVELOPMENT ONLY: the token can be stolen.")
        var insecureSkipVerify = false

        @Flag(help: "Replace an existing identity.")
        var force = false

        @OptionGroup var common: CommonOptions

        func validate() throws {
            try NKudoEdgeCommand.checkControlPlaneURL(controlPlane)
            let trusts = [caFingerprint != nil, caFile != nil, insecureSkipVerify].filter { $0 }.count
            guard trusts == 1 else {
                throw ValidationError("give exactly one of --ca-fingerprint, --ca-file or --insecure-skip-verify")
            }
            // Here, not first in run(): a missing token is a usage error of enroll, with enroll's usage line.
            _ = try resolvedToken()
        }

        func resolvedToken() throws -> String {
            if let token, !token.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                return token.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            if let value = ProcessInfo.processInfo.environment["NKUDO_ENROLL_TOKEN"], !value.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                return value.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            if let tokenFile {
                guard let text = try? String(contentsOfFile: tokenFile, encoding: .utf8) else {
                    throw ValidationError("cannot read --token-file \(tokenFile)")
                }
                let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
                if !trimmed.isEmpty { return trimmed }
            }
            throw ValidationError("an enrollment token is required (--token-file, NKUDO_ENROLL_TOKEN or --token)")
        }

        func run() async throws {
            let logger = common.logger()
            let trust: ServerTrust
            if let caFingerprint {
                trust = .pinnedCAFingerprint(caFingerprint)
            } else if let caFile {
                guard let pem = try? String(contentsOfFile: caFile, encoding: .utf8) else { throw ValidationError("cannot read --ca-file \(caFile)") }
                trust = .certificateAuthority(pem: pem)
            } else {
                trust = .insecureSkipVerify
            }
            let enroller = Enroller(store: IdentityStore(directory: common.pkiDirectory), logger: logger)
            do {
                let identity = try await enroller.enroll(Enroller.Request(
                    controlPlaneURL: controlPlane, token: try resolvedToken(), hostname: hostname ?? ProcessInfo.processInfo.hostName,
                    trust: trust, format: common.wire.format, agentVersion: NKudoVersion.current,
                        labels: ["arch": Self.architecture, "os": "linux"], fingerprint: HostFactsCollector().fingerprint(), force: force))
                print("enrolled agent_id=\(identity.agentID) site_id=\(identity.siteID) host_id=\(identity.hostID)")
                print("pki written under \(common.pkiDirectory)")
            } catch let error as ValidationError {
                throw error
            } catch {
                try? FileHandle.standardError.write(contentsOf: Data("error: enroll failed: \(error)\n".utf8))
                throw ExitCode.failure
            }
        }

        static var architecture: String {
            #if arch(x86_64)
            return "amd64"
            #elseif arch(arm64)
            return "arm64"
            #else
            return "unknown"
            #endif
        }
    }

    /// `hostfacts`: prints this host's facts as the contract's JSON.
    struct HostFactsCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "hostfacts",
            abstract: "Print this host's facts (CPU, memory, disks, KVM, interfaces) as JSON, as heartbeats carry them.")

        func run() throws {
            do {
                let facts = try HostFactsCollector().collect()
                print(try facts.jsonString())
            } catch {
                try? FileHandle.standardError.write(contentsOf: Data("error: hostfacts: \(error)\n".utf8))
                throw ExitCode.failure
            }
        }
    }

    /// `version`: prints the version.
    struct Version: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the version.")
        func run() {
            print(NKudoVersion.current)
        }
    }
}
