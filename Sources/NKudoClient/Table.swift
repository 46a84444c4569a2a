/// A text table for `-o table` and `-o wide`: upper-case headers, columns padded to their
/// widest cell, two spaces apart; columns marked wide only with `-o wide`. Cells are printed
/// with their control characters escaped (``TerminalText``).
public struct Table: Sendable {
    /// One column.
    public struct Column: Sendable {
        /// The header (printed upper-case).
        public var header: String
        /// Shown only in the wide output.
        public var wideOnly: Bool

        /// Creates a column.
        public init(_ header: String, wideOnly: Bool = false) {
            self.header = header
            self.wideOnly = wideOnly
        }
    }

    /// The columns.
    public var columns: [Column]
    /// The rows, one cell per column (`""` prints as `-`).
    public var rows: [[String]] = []

    /// An empty table.
    public init(_ columns: [Column]) { self.columns = columns }

    /// Appends a row (missing cells are empty).
    public mutating func append(_ cells: [String]) { rows.append(cells) }

    /// The table as lines.
    public func render(wide: Bool) -> String {
        let shown = columns.indices.filter { wide || !columns[$0].wideOnly }
        let cells = [shown.map { columns[$0].header.uppercased() }] + rows.map { row in
            shown.map { index in
                let cell = index < row.count ? row[index] : ""
                return cell.isEmpty ? "-" : TerminalText.escaped(cell.split(whereSeparator: \.isNewline).joined(separator: " "))
            }
        }
        var widths = Array(repeating: 0, count: shown.count)
        for row in cells { for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) } }
        return cells.map { row in
            var line = ""
            for (index, cell) in row.enumerated() {
                line += index == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[index] - cell.count + 2)
            }
            return line
        }.joined(separator: "\n") + "\n"
    }
}

/// Key–value lines for one resource (`NAME:   value`), aligned.
public struct Details: Sendable {
    /// The lines, in order.
    public var items: [(key: String, value: String)] = []

    /// No lines.
    public init() {}

    /// Appends a line (an empty value prints as `-`).
    public mutating func append(_ key: String, _ value: String) { items.append((key, value)) }

    /// The lines.
    public func render() -> String {
        let width = items.map(\.key.count).max() ?? 0
        return items.map { item in
            item.key + ":" + String(repeating: " ", count: width - item.key.count + 2)
                + (item.value.isEmpty ? "-" : TerminalText.escaped(item.value, keeping: ["\n"]))
        }.joined(separator: "\n") + "\n"
    }
}
