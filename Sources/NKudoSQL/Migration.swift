/// One SQL migration: a version, a name and the SQL applied in one transaction.
public struct Migration: Sendable, Hashable {
    /// The number the file name starts with; applied in ascending order.
    public let version: Int
    /// The file name, e.g. `0001_init.sql`.
    public let name: String
    /// The SQL, applied in one transaction.
    public let sql: String

    /// Creates a migration.
    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }
}
