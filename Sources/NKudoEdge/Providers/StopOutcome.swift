/// How a STOP ended, as the VM's state reason and the action's result say it: the guest
/// powered off on the ACPI power button, or the VMM was stopped after the grace period.
enum StopOutcome: Sendable, Hashable {
    /// The guest powered off after `seconds`.
    case graceful(seconds: Double)
    /// The guest did not power off within `gracePeriod` seconds.
    case forced(gracePeriod: Double)

    /// The state reason.
    var reason: String {
        switch self {
        case .graceful(let seconds):
            "stopped gracefully (ACPI power button) after \(Self.format(seconds)) s"
        case .forced(let gracePeriod):
            "stopped forcibly: the guest did not power off within \(Self.format(gracePeriod)) s of the ACPI power button"
        }
    }

    /// Seconds since `start`.
    static func seconds(since start: ContinuousClock.Instant) -> Double {
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    private static func format(_ seconds: Double) -> String {
        let tenths = Int((seconds * 10).rounded())
        return "\(tenths / 10).\(tenths % 10)"
    }
}
