internal import CSQLite

/// One compiled SQLite statement: owns one `sqlite3_stmt*` and finalizes it in `deinit`.
/// Its connection keeps it (for reuse) and outlives it; it is used only on the thread that
/// uses the connection.
final class SQLiteStatement {
    private let handle: OpaquePointer
    private unowned let connection: SQLiteConnection

    /// Adopts a statement compiled on `connection`; it is finalized when this object goes away.
    init(takingOwnership handle: OpaquePointer, connection: SQLiteConnection) {
        self.handle = handle
        self.connection = connection
    }

    deinit {
        sqlite3_finalize(handle)
    }

    /// Back to the start with no values bound, ready for reuse; ends the statement's read
    /// of the database. (Its result code repeats the last step's error, already reported.)
    func reset() {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
    }

    /// Binds `values` to `?1 … ?n`: booleans as 0/1, text and blobs copied by SQLite.
    func bind(_ values: [SQLValue]) throws(StoreError) {
        let expected = Int(sqlite3_bind_parameter_count(handle))
        guard values.count == expected else {
            throw StoreError(.database, "the statement has \(expected) parameters but \(values.count) values are bound")
        }
        for (offset, value) in values.enumerated() {
            try connection.check(bind(value, at: Int32(offset + 1)), "cannot bind a statement parameter")
        }
    }

    private func bind(_ value: SQLValue, at index: Int32) -> Int32 {
        switch value {
        case .null:
            return sqlite3_bind_null(handle, index)
        case .int(let integer):
            return sqlite3_bind_int64(handle, index, integer)
        case .double(let double):
            return sqlite3_bind_double(handle, index, double)
        case .bool(let bool):
            return sqlite3_bind_int64(handle, index, bool ? 1 : 0)
        case .text(let text):
            // `withCString` never lends a null pointer (SQLite would bind NULL for one), and
            // the explicit length keeps text after an embedded NUL.
            let length = UInt64(text.utf8.count)
            return text.withCString {
                sqlite3_bind_text64(handle, index, $0, length, nkudo_sqlite_transient(), UInt8(SQLITE_UTF8))
            }
        case .blob(let bytes) where bytes.isEmpty:
            // An empty array may have no base address, which SQLite would bind as NULL.
            return sqlite3_bind_zeroblob(handle, index, 0)
        case .blob(let bytes):
            return bytes.withUnsafeBytes {
                sqlite3_bind_blob64(handle, index, $0.baseAddress, UInt64($0.count), nkudo_sqlite_transient())
            }
        }
    }

    /// Advances to the next row: `true` when there is one, `false` when done.
    func step() throws(StoreError) -> Bool {
        let code = sqlite3_step(handle)
        try connection.check(code, "SQL statement failed")
        return code == SQLITE_ROW
    }

    /// The current row, each value by its storage class.
    func row() -> SQLRow {
        let count = sqlite3_column_count(handle)
        var columns: [String] = []
        var values: [SQLValue] = []
        columns.reserveCapacity(Int(count))
        values.reserveCapacity(Int(count))
        for column in 0..<count {
            columns.append(sqlite3_column_name(handle, column).map { String(cString: $0) } ?? "")
            values.append(value(at: column))
        }
        return SQLRow(columns: columns, values: values)
    }

    private func value(at column: Int32) -> SQLValue {
        switch sqlite3_column_type(handle, column) {
        case SQLITE_INTEGER:
            return .int(sqlite3_column_int64(handle, column))
        case SQLITE_FLOAT:
            return .double(sqlite3_column_double(handle, column))
        case SQLITE_TEXT:
            guard let text = sqlite3_column_text(handle, column) else { return .text("") }
            let count = Int(sqlite3_column_bytes(handle, column))
            return .text(String(decoding: UnsafeBufferPointer(start: text, count: count), as: UTF8.self))
        case SQLITE_BLOB:
            guard let blob = sqlite3_column_blob(handle, column) else { return .blob([]) }
            let count = Int(sqlite3_column_bytes(handle, column))
            return .blob(Array(UnsafeRawBufferPointer(start: blob, count: count)))
        default:
            return .null
        }
    }
}
