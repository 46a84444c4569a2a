package import Foundation

// How the store's values live in SQL: timestamps are BIGINT Unix microseconds (UTC),
// booleans INTEGER 0/1, states TEXT. The same in both dialects.

// MARK: Time

extension Date {
    /// Microseconds since the Unix epoch, rounded: the store's timestamp column value.
    package var unixMicroseconds: Int64 {
        Int64((timeIntervalSince1970 * 1_000_000).rounded())
    }

    /// The date of a stored timestamp.
    package init(unixMicroseconds micros: Int64) {
        let (seconds, remainder) = micros.quotientAndRemainder(dividingBy: 1_000_000)
        self.init(timeIntervalSince1970: TimeInterval(seconds) + TimeInterval(remainder) / 1_000_000)
    }
}

// MARK: Binding

extension SQLValue {
    /// A timestamp column value.
    package static func timestamp(_ date: Date) -> SQLValue {
        .int(date.unixMicroseconds)
    }

    /// A nullable timestamp column value.
    package static func timestamp(_ date: Date?) -> SQLValue {
        date.map { .int($0.unixMicroseconds) } ?? .null
    }

    /// A boolean column value (INTEGER 0/1).
    package static func flag(_ value: Bool) -> SQLValue {
        .int(value ? 1 : 0)
    }

    /// A nullable text column value; `nil` and blank strings are NULL.
    package static func nonBlank(_ text: String?) -> SQLValue {
        guard let text = text?.nonBlank else { return .null }
        return .text(text)
    }

}

extension String {
    /// The string, or `nil` when it is empty after trimming whitespace.
    package var nonBlank: String? {
        // White_Space is the set `.whitespacesAndNewlines` names, without bridging to NSString.
        unicodeScalars.allSatisfy(\.properties.isWhitespace) ? nil : self
    }
}

// MARK: Reading columns

extension SQLRow {
    /// A non-NULL TEXT column.
    package func text(_ column: String) throws(StoreError) -> String {
        guard case .text(let text) = self[column] else { throw unexpected(column, "text") }
        return text
    }

    /// A nullable TEXT column; NULL and `""` are `nil` (the contract omits empty strings).
    package func optionalText(_ column: String) throws(StoreError) -> String? {
        switch self[column] {
        case .null: return nil
        case .text(let text): return text.isEmpty ? nil : text
        default: throw unexpected(column, "text or NULL")
        }
    }

    /// A non-NULL integer column.
    package func int64(_ column: String) throws(StoreError) -> Int64 {
        guard case .int(let value) = self[column] else { throw unexpected(column, "integer") }
        return value
    }

    /// A nullable integer column.
    package func optionalInt64(_ column: String) throws(StoreError) -> Int64? {
        switch self[column] {
        case .null: return nil
        case .int(let value): return value
        default: throw unexpected(column, "integer or NULL")
        }
    }

    /// A non-NULL 32-bit integer column.
    package func int32(_ column: String) throws(StoreError) -> Int32 {
        let value = try int64(column)
        guard let narrowed = Int32(exactly: value) else { throw unexpected(column, "32-bit integer") }
        return narrowed
    }

    /// A boolean column (INTEGER 0/1).
    package func flag(_ column: String) throws(StoreError) -> Bool {
        switch self[column] {
        case .int(let value): return value != 0
        case .bool(let value): return value
        default: throw unexpected(column, "0 or 1")
        }
    }

    /// A non-NULL timestamp column as a date.
    package func date(_ column: String) throws(StoreError) -> Date {
        Date(unixMicroseconds: try int64(column))
    }

    /// A nullable timestamp column as a date.
    package func optionalDate(_ column: String) throws(StoreError) -> Date? {
        try optionalInt64(column).map(Date.init(unixMicroseconds:))
    }

    package func unexpected(_ column: String, _ expected: String) -> StoreError {
        StoreError(.database, "unexpected value in column \(column)", underlying: "expected \(expected)")
    }
}

