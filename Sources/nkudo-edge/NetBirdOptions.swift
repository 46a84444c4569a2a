import ArgumentParser
import Foundation
import Logging
import NKudoEdge

/// The NetBird flags of `run` (reference §1.4). The setup key is never a flag value: it
/// comes from `NKUDO_NETBIRD_SETUP_KEY` or `--netbird-setup-key-file`.
struct NetBirdOptions: ParsableArguments {
    @Option(name: .customLong("netbird-enabled"), help: "Evaluate the NetBird mesh and report it in heartbeats (true/false).")
    var enabled = true

    @Option(name: .customLong("netbird-auto-join"), help: "Run `netbird up` with the setup key until a join succeeds (true/false).")
    var autoJoin = true

    @Option(name: .customLong("netbird-setup-key-file"), help: "File holding the NetBird setup key (or set NKUDO_NETBIRD_SETUP_KEY).")
    var setupKeyFile: String?

    @Option(name: .customLong("netbird-bin"), help: "NetBird CLI binary.")
    var binary = "netbird"

    @Option(name: .customLong("netbird-hostname"), help: "Hostname for the join (default: this machine's host name).")
    var hostname = ""

    @Option(name: .customLong("netbird-install-cmd"), help: "Command that installs NetBird when it is missing (split on whitespace).")
    var installCommand = ""

    @Option(name: .customLong("netbird-require-service"), help: "Report a detectable but stopped NetBird service as degraded (true/false).")
    var requireService = true

    @Option(name: .customLong("netbird-probe-type"), help: "Mesh probe: http or ping.")
    var probeType = "http"

    @Option(name: .customLong("netbird-probe-target"), help: "Mesh endpoint to probe (URL or host); empty: no probe.")
    var probeTarget = ""

    @Option(name: .customLong("netbird-probe-timeout"), help: "Probe timeout (Go duration, e.g. 5s).")
    var probeTimeout = DurationArgument(.seconds(5), text: "5s")

    @Option(name: .customLong("netbird-probe-http-min"), help: "Lowest accepted HTTP status of the probe.")
    var probeHTTPMin = 200

    @Option(name: .customLong("netbird-probe-http-max"), help: "Highest accepted HTTP status of the probe.")
    var probeHTTPMax = 399

    func monitor(logger: Logger) throws -> NetBirdMonitor? {
        guard enabled else { return nil }
        var configuration = NetBirdConfiguration()
        configuration.enabled = true
        configuration.autoJoin = autoJoin
        configuration.binary = binary
        let trimmedHostname = hostname.trimmingCharacters(in: .whitespaces)
        configuration.hostname = trimmedHostname.isEmpty ? ProcessInfo.processInfo.hostName : trimmedHostname
        configuration.requireService = requireService
        configuration.installCommand = installCommand.split(whereSeparator: \.isWhitespace).map(String.init)
        let target = probeTarget.trimmingCharacters(in: .whitespaces)
        if !target.isEmpty {
            configuration.probe = NetBirdProbe(kind: NetBirdProbe.Kind(parsing: probeType), target: target,
                                               timeout: probeTimeout.duration, httpMinStatus: probeHTTPMin, httpMaxStatus: probeHTTPMax)
        }
        let key: NetBirdSetupKey?
        do {
            key = try NetBirdSetupKey.load(environment: ProcessInfo.processInfo.environment, file: setupKeyFile)
        } catch {
            throw CommandFailure("\(error)")
        }
        return NetBirdMonitor(configuration: configuration, setupKey: key, logger: logger)
    }
}
