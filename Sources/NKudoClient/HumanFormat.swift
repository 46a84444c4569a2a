public import Foundation
public import NKudoWire

/// Durations, times and sizes as people read them in tables.
public enum HumanFormat {
    /// `45s`, `3m`, `2h5m`, `4d3h`: the two most significant units.
    public static func duration(_ seconds: TimeInterval) -> String {
        let total = Int(max(0, seconds.rounded()))
        let days = total / 86_400, hours = total / 3600 % 24, minutes = total / 60 % 60, rest = total % 60
        if days > 0 { return hours > 0 ? "\(days)d\(hours)h" : "\(days)d" }
        if hours > 0 { return minutes > 0 ? "\(hours)h\(minutes)m" : "\(hours)h" }
        if minutes > 0 { return rest > 0 && minutes < 10 ? "\(minutes)m\(rest)s" : "\(minutes)m" }
        return "\(rest)s"
    }

    /// `3m ago` or `in 14m` relative to `now`; `""` for no time.
    public static func relative(_ timestamp: ProtoTimestamp?, now: Date = Date()) -> String {
        guard let timestamp else { return "" }
        let delta = timestamp.date.timeIntervalSince(now)
        if abs(delta) < 1 { return "now" }
        return delta < 0 ? "\(duration(-delta)) ago" : "in \(duration(delta))"
    }

    /// The RFC 3339 form of a timestamp; `""` for none.
    public static func time(_ timestamp: ProtoTimestamp?) -> String {
        guard let timestamp else { return "" }
        return (try? timestamp.rfc3339()) ?? ""
    }

    /// `512 B`, `1.5 KiB`, `7.6 GiB`: binary units, one decimal below 10.
    public static func bytes(_ count: Int64) -> String {
        count.magnitude < 1024 ? "\(count) B" : binaryUnits(Double(count), unit: 0)
    }

    /// A size given in MiB (any `Int64` of them: a server may store more than a byte count holds).
    public static func mebibytes(_ count: Int64) -> String {
        count.magnitude < 1024 ? "\(count) MiB" : binaryUnits(Double(count), unit: 2)
    }

    private static func binaryUnits(_ amount: Double, unit start: Int) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
        var value = amount
        var unit = start
        while abs(value) >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return abs(value) < 10 ? "\(String(format: "%.1f", value)) \(units[unit])" : "\(String(format: "%.0f", value)) \(units[unit])"
    }

    /// Parses `30s`, `500ms`, `5m`, `2h`, `1d` or a bare number of seconds.
    public static func parseDuration(_ text: String) -> Duration? {
        let trimmed = text.trimmingCharacters(in: " \t")
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86_400)]
        let scale = units.first { trimmed.hasSuffix($0.0) }
        guard let value = Double(trimmed.dropLast(scale?.0.count ?? 0)), value >= 0, value.isFinite else { return nil }
        let seconds = value * (scale?.1 ?? 1)
        guard seconds <= maximumDurationSeconds else { return nil }
        return .milliseconds(Int64((seconds * 1000).rounded()))
    }

    /// The longest duration any flag takes, 100 years: anything longer is a typo, and
    /// beyond it the milliseconds would not fit an `Int64`.
    public static let maximumDurationSeconds: Double = 100 * 365.25 * 86_400

    /// Parses a memory size in MiB: `256`, `256M`, `256MiB`, `1G`, `1GiB`, `1.5Gi`.
    public static func parseMebibytes(_ text: String) -> Int64? {
        var trimmed = text.trimmingCharacters(in: " \t").lowercased()
        var scale: Double = 1
        for (suffix, factor) in [("mib", 1.0), ("mi", 1), ("m", 1), ("gib", 1024), ("gi", 1024), ("g", 1024)] where trimmed.hasSuffix(suffix) {
            trimmed.removeLast(suffix.count)
            scale = factor
            break
        }
        guard let value = Double(trimmed.trimmingCharacters(in: " ")), value > 0, value.isFinite else { return nil }
        let mebibytes = (value * scale).rounded()
        return mebibytes <= Double(Int64.max / 2) ? Int64(mebibytes) : nil
    }
}
