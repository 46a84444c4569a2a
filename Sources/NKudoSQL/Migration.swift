/// One SQL migration: a version, a name and the SQL applied in one transaction.
public struct Migration: Sendable, Hashable {
    /// The number the file name starts with; applied in ascending order.
    public let version: Int
    /// The file name, e.g. `0001_init.sql`.
    public let name: String
    /// The SQL, applied in one transaction.
    public let sql: String

    /// The line a SQLite migration carries when it rebuilds a table that other tables
    /// refer to: the runner then applies it with foreign keys off and checks them before
    /// the commit (SQLite's documented procedure for such changes).
    public static let rebuildsReferencedTablesMarker = "-- nkudo-migration: rebuilds-referenced-tables"

    /// Whether the SQL carries ``rebuildsReferencedTablesMarker`` on a line of its own.
    public var rebuildsReferencedTables: Bool {
        sql.split(separator: "\n").contains { $0.split(separator: " ").joined(separator: " ") == Self.rebuildsReferencedTablesMarker }
    }

    /// Creates a migration.
    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }
}
