import ArgumentParser
import Foundation

/// A duration flag in Go syntax, as the original accepted: `15s`, `1m30s`, `500ms`,
/// `2h`; units `ns`, `us`, `ms`, `s`, `m`, `h`; a bare `0` is zero.
struct DurationArgument: ExpressibleByArgument, CustomStringConvertible {
    let duration: Duration
    let description: String

    init(_ duration: Duration, text: String) {
        self.duration = duration
        self.description = text
    }

    init?(argument: String) {
        let text = argument.trimmingCharacters(in: .whitespaces)
        if text == "0" {
            self.init(.zero, text: text)
            return
        }
        var total: Double = 0
        var rest = Substring(text)
        guard !rest.isEmpty else { return nil }
        while !rest.isEmpty {
            let number = rest.prefix { $0.isNumber || $0 == "." }
            guard !number.isEmpty, let value = Double(number) else { return nil }
            rest = rest.dropFirst(number.count)
            let unit = rest.prefix { $0.isLetter || $0 == "µ" }
            rest = rest.dropFirst(unit.count)
            let scale: Double
            switch unit {
            case "ns": scale = 1e-9
            case "us", "µs": scale = 1e-6
            case "ms": scale = 1e-3
            case "s": scale = 1
            case "m": scale = 60
            case "h": scale = 3600
            default: return nil
            }
            total += value * scale
        }
        // Longer than 100 years is a typo, and beyond ~292 years the nanoseconds would not fit an Int64.
        guard total <= 100 * 365.25 * 86_400 else { return nil }
        self.init(.nanoseconds(Int64((total * 1e9).rounded())), text: text)
    }
}
