import Foundation
import Logging
import NKudoStore
import NKudoSQL
import NKudoStorePostgres

/// A PostgreSQL schema of its own for one control plane under test: the returned URL
/// makes every connection use it (`search_path`), so tests never see each other's rows.
public enum PostgresTestSchema {
    public static func create(baseURL: String) async throws -> String {
        let schema = "cp_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16)
        let admin = try PostgresDatabase(url: baseURL, maxConnections: 1, logger: Logger(label: "test.postgres"))
        try await admin.withConnection { connection throws(StoreError) in try connection.executeScript("CREATE SCHEMA \(schema)") }
        await admin.close()
        let separator = baseURL.contains("?") ? "&" : "?"
        return baseURL + separator + "options=-csearch_path%3D\(schema)"
    }
}
