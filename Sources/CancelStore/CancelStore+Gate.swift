import CancelQueue
import CancelCore
import SQLite

/// The sending gate (maintenance pause, credential halt, surge hold) persisted in `sending_gate`.
extension CancelStore {
    public func loadGateNow() throws(StoreError) -> SendingGate {
        let row: GateRow? = try storeErrors {
            try connection.queryOne("SELECT \(GateRow.columns) FROM sending_gate WHERE id = 1") { GateRow(sqlite: $0) }
        }
        // No row: another writer deleted it; the next save puts it back.
        return try row?.gate() ?? .open
    }

    public func saveGateNow(_ gate: SendingGate, now: Double) throws(StoreError) {
        try storeErrors { try connection.transaction { try save(gate, now: now) } }
    }

    func save(_ gate: SendingGate, now: Double) throws {
        // Another writer may have deleted the row: an UPDATE of nothing would drop a halt silently.
        try connection.run("INSERT INTO sending_gate (id) SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM sending_gate)")
        let row = GateRow(gate)
        // approved_at is left alone: only an approval moves it.
        try connection.run(
            """
            UPDATE sending_gate SET mode = ?, paused_until = ?, maintenance_streak = ?, reason = ?, code = ?, since = ?,
                updated_at = ?, hold_enqueued = ?, hold_above = ?, hold_window = ?, hold_counted_from = ? WHERE id = 1
            """, row.mode, row.pausedUntil, row.maintenanceStreak, row.reason, row.code, row.since, now, row.holdEnqueued,
            row.holdAbove, row.holdWindow, row.holdCountedFrom)
    }
}

extension GateRow {
    /// The row a `SELECT \(GateRow.columns)` read, in its first ten columns.
    init(sqlite row: Row) {
        self.init(
            mode: row.string(0), pausedUntil: row.optionalDouble(1), maintenanceStreak: row.int(2), reason: row.optionalString(3),
            code: row.optionalString(4), since: row.optionalDouble(5), holdEnqueued: row.optionalInt(6), holdAbove: row.optionalInt(7),
            holdWindow: row.optionalDouble(8), holdCountedFrom: row.optionalDouble(9))
    }
}

/// The surge hold's count.
extension CancelStore {
    /// The last `cancelq approve`, if any.
    public func lastApprovalNow() throws(StoreError) -> Double? {
        try storeErrors {
            try connection.queryOne("SELECT approved_at FROM sending_gate WHERE id = 1") { $0.optionalDouble(0) } ?? nil
        }
    }

    /// Jobs enqueued from `limit.countingFrom(now:approvedAt:)`, counted up to `limit.countCap` (the
    /// index range stops there, so a backlog of a million costs what one of a thousand does).
    public func enqueuedForSurgeNow(now: Double, limit: SurgeLimit) throws(StoreError) -> (enqueued: Int, countedFrom: Double) {
        try storeErrors {
            try connection.transaction(.deferred) {
                let from = limit.countingFrom(now: now, approvedAt: try lastApprovalNow())
                let count = try connection.queryOne(
                    """
                    SELECT count(*) FROM (SELECT 1 FROM cancellations INDEXED BY cancellations_created
                    WHERE created_at > ? LIMIT ?)
                    """, [from, limit.countCap]
                ) { $0.int(0) } ?? 0
                return (count, from)
            }
        }
    }
}
