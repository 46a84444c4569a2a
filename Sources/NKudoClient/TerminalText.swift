/// Text from the server made safe to print on an operator's terminal.
///
/// Names, log lines and a guest's serial console come from tenants, agents and guests: a
/// control character in them (an `ESC` starting a terminal sequence that moves the
/// cursor, rewrites what was printed, sets the window title or, with OSC 52, the
/// clipboard) must not reach the terminal as such. Every control character but the line
/// breaks and tabs a text may keep (C0, `DEL`, C1) and the bidirectional overrides that
/// reorder what is shown ("Trojan Source") are printed visibly, `\x1b` or `\u{202e}`; the
/// JSON and YAML outputs keep the exact text.
public enum TerminalText {
    /// `text` with every control character escaped; `keeping` lists the ones printed as
    /// they are (a console keeps `\n` and `\t`; a table cell keeps none).
    public static func escaped(_ text: String, keeping: Set<Unicode.Scalar> = []) -> String {
        guard text.unicodeScalars.contains(where: { needsEscape($0) && !keeping.contains($0) }) else { return text }
        var result = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            guard needsEscape(scalar), !keeping.contains(scalar) else {
                result.append(scalar)
                continue
            }
            let hex = String(scalar.value, radix: 16)
            let escape = scalar.value <= 0xFF ? "\\x" + (hex.count < 2 ? "0" + hex : hex) : "\\u{\(hex)}"
            result.append(contentsOf: escape.unicodeScalars)
        }
        return String(result)
    }

    private static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1F, 0x7F...0x9F, 0x202A...0x202E, 0x2066...0x2069: true
        default: false
        }
    }
}
