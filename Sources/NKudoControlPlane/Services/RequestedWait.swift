/// A long poll's `wait` parameter (`GetPlan`, `NextPlans`): `""`, `0`, or a duration of
/// decimal numbers with units, Go style (`500ms`, `2.5s`, `30s`, `1m`), at most
/// ``maximum``. Anything else is a 400.
struct RequestedWait: Sendable {
    /// The longest wait a caller may ask for.
    static let maximum = Duration.seconds(60)

    /// How long to wait; zero answers at once.
    let duration: Duration

    /// Parses `text`.
    init(_ text: String) throws(APIError) {
        let invalid = APIError.badRequest(
            "wait must be a duration such as 500ms, 30s or 1m (at most 60s), got \"\(text.prefix(64))\"")
        guard !text.isEmpty, text != "0" else {
            duration = .zero
            return
        }
        let units: [(String, Double)] = [("ns", 1e-9), ("us", 1e-6), ("µs", 1e-6), ("ms", 1e-3), ("s", 1), ("m", 60), ("h", 3600)]
        var rest = Substring(text)
        var seconds = 0.0
        while !rest.isEmpty {
            let number = rest.prefix { ("0"..."9").contains($0) || $0 == "." }
            guard !number.isEmpty, let amount = Double(number) else { throw invalid }
            rest = rest.dropFirst(number.count)
            // The longest unit name first, so that `ms` is not read as `m`.
            guard let unit = units.filter({ rest.hasPrefix($0.0) }).max(by: { $0.0.count < $1.0.count }) else { throw invalid }
            rest = rest.dropFirst(unit.0.count)
            seconds += amount * unit.1
            guard seconds.isFinite, seconds <= 60 else { throw invalid }
        }
        duration = .nanoseconds(Int64((seconds * 1e9).rounded()))
    }
}
