import SQLite

/// Rows of the queue as stored, for moving a queue to another store (`cancelq copy-to-postgresql`).
extension CancelStore {
    /// Up to `limit` rows of `table` with `id` above `afterID`, in id order, `columns` as SQLite holds them.
    public func exportRows(table: String, columns: [String], afterID: Int64, limit: Int) throws(StoreError) -> [[SQLiteValue]] {
        try storeErrors {
            try connection.query(
                "SELECT \(columns.joined(separator: ", ")) FROM \(table) WHERE id > ? ORDER BY id LIMIT ?", [afterID, limit]
            ) { row in columns.indices.map { row.value($0) } }
        }
    }

    /// Rows in `table`, for the check after a copy.
    public func rowCount(table: String) throws(StoreError) -> Int {
        try storeErrors { try connection.queryOne("SELECT count(*) FROM \(table)") { $0.int(0) } ?? 0 }
    }
}
