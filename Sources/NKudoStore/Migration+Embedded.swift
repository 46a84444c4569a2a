public import NKudoSQL

extension Migration {
    /// The control plane's migrations of a dialect, embedded from `Migrations/<dialect>/`.
    public static func embedded(for dialect: SQLDialect) -> [Migration] {
        switch dialect {
        case .sqlite: return EmbeddedMigrations.sqlite
        case .postgres: return EmbeddedMigrations.postgres
        }
    }
}
