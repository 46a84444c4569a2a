import NKudoSQL
internal import CLibPQ

/// One libpq result: owns one `PGresult*` and clears it in `deinit`.
final class PostgresResult {
    private let handle: OpaquePointer

    /// Adopts a result; it is cleared when this object goes away.
    init(takingOwnership handle: OpaquePointer) {
        self.handle = handle
    }

    deinit {
        PQclear(handle)
    }

    /// `PQresultStatus`.
    var status: ExecStatusType {
        PQresultStatus(handle)
    }

    /// The SQLSTATE of a failed result, if the server sent one.
    var sqlState: String? {
        nkudo_pq_result_sqlstate(handle).map { String(cString: $0) }
    }

    /// The primary message of a failed result (never its DETAIL, which may quote values).
    var primaryMessage: String? {
        nkudo_pq_result_primary_message(handle).map { String(cString: $0) }
    }

    /// The command tag, e.g. `COMMIT` or `ROLLBACK`.
    var commandStatus: String {
        PQcmdStatus(handle).map { String(cString: $0) } ?? ""
    }

    /// The number of rows an INSERT, UPDATE, DELETE, MERGE or COPY changed; 0 for other
    /// commands (libpq also counts the rows a SELECT returns, which change nothing).
    var affectedRows: Int {
        let command = commandStatus.prefix { $0 != " " }
        guard ["INSERT", "UPDATE", "DELETE", "MERGE", "COPY"].contains(command) else { return 0 }
        return PQcmdTuples(handle).flatMap { Int(String(cString: $0)) } ?? 0
    }

    /// The rows, each value converted by its column type (text result format).
    func rows() -> [SQLRow] {
        let rowCount = PQntuples(handle)
        let columnCount = PQnfields(handle)
        let columns = (0..<columnCount).map { PQfname(handle, $0).map { String(cString: $0) } ?? "" }
        let types = (0..<columnCount).map { PQftype(handle, $0) }
        return (0..<rowCount).map { row in
            SQLRow(columns: columns, values: (0..<columnCount).map { value(row: row, column: $0, type: types[Int($0)]) })
        }
    }

    private func value(row: Int32, column: Int32, type: Oid) -> SQLValue {
        if PQgetisnull(handle, row, column) != 0 { return .null }
        guard let bytes = PQgetvalue(handle, row, column) else { return .null }
        let text = String(decoding: UnsafeRawBufferPointer(start: bytes, count: Int(PQgetlength(handle, row, column))), as: UTF8.self)
        switch type {
        case PostgresType.int2, PostgresType.int4, PostgresType.int8:
            return Int64(text).map(SQLValue.int) ?? .text(text)
        case PostgresType.float4, PostgresType.float8, PostgresType.numeric:
            return Double(text).map(SQLValue.double) ?? .text(text)
        case PostgresType.bool:
            return .bool(text == "t")
        case PostgresType.bytea:
            return .blob(Self.unescapeBytea(bytes))
        default:
            return .text(text)
        }
    }

    /// Decodes bytea text output (hex or escape format) with `PQunescapeBytea`.
    private static func unescapeBytea(_ text: UnsafePointer<CChar>) -> [UInt8] {
        var count = 0
        // `char` and `unsigned char` are related types: the memory may be read as either.
        let decoded = PQunescapeBytea(UnsafeRawPointer(text).assumingMemoryBound(to: UInt8.self), &count)
        guard let decoded else { return [] }
        defer { PQfreemem(decoded) }
        return Array(UnsafeBufferPointer(start: decoded, count: count))
    }
}

/// The type OIDs the driver converts (`pg_type.oid`, fixed in every PostgreSQL).
enum PostgresType {
    static let bool: Oid = 16
    static let bytea: Oid = 17
    static let int8: Oid = 20
    static let int2: Oid = 21
    static let int4: Oid = 23
    static let float4: Oid = 700
    static let float8: Oid = 701
    static let numeric: Oid = 1700
    /// Left for the server to infer from the statement.
    static let unspecified: Oid = 0
}
