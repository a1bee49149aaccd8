import CancelQueue
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

    /// The gate's row as stored, not the `SendingGate` it means: the copy carries what the next
    /// daemon decides from, the last approval included (the next surge is counted from it).
    public struct ExportedGate: Equatable, Sendable {
        public var row: GateRow
        public var approvedAt: Double?
        public var updatedAt: Double
    }

    public func exportGate() throws(StoreError) -> ExportedGate {
        let exported: ExportedGate? = try storeErrors {
            try connection.queryOne("SELECT \(GateRow.columns), approved_at, updated_at FROM sending_gate WHERE id = 1") {
                ExportedGate(row: GateRow(sqlite: $0), approvedAt: $0.optionalDouble(10), updatedAt: $0.double(11))
            }
        }
        // No row: another writer deleted it; `loadGateNow` reads that as open, and so does the copy.
        return exported ?? ExportedGate(row: GateRow(.open), approvedAt: nil, updatedAt: QueueClock.now())
    }
}
