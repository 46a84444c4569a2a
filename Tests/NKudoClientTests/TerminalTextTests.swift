import NKudoClient
import Testing

/// Server text on the operator's terminal: control characters shown, not played.
@Suite("Terminal text")
struct TerminalTextTests {
    @Test("control characters, DEL, C1 and bidirectional overrides are escaped; other text is kept", arguments: [
        ("plain name", "plain name"),
        ("grüße 東京 🚀", "grüße 東京 🚀"),
        ("\u{1b}[2J", #"\x1b[2J"#),
        ("a\u{07}b\u{00}c\u{7f}", #"a\x07b\x00c\x7f"#),
        ("\u{9b}31m", #"\x9b31m"#),
        ("x\u{202e}gpj.exe", #"x\u{202e}gpj.exe"#),
        ("\u{2066}i\u{2069}", #"\u{2066}i\u{2069}"#),
        ("tab\tline\n", #"tab\x09line\x0a"#),
    ])
    func escaped(text: String, shown: String) {
        #expect(TerminalText.escaped(text) == shown)
    }

    @Test("a console keeps its line breaks and tabs")
    func keeping() {
        #expect(TerminalText.escaped("boot\n\tok\u{1b}]0;title\u{07}\n", keeping: ["\n", "\t"]) == "boot\n\tok\\x1b]0;title\\x07\n")
    }

    @Test("table cells and details values are escaped")
    func tables() {
        var table = Table([Table.Column("name")])
        table.append(["evil\u{1b}[31m"])
        #expect(table.render(wide: false) == "NAME\nevil\\x1b[31m\n")
        var details = Details()
        details.append("Name", "a\u{1b}b")
        #expect(details.render() == "Name:  a\\x1bb\n")
    }
}
