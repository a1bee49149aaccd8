import CancelQueue
import SQLite

extension JobRecord {
    /// Reads a row selected with `columns`. An unknown state or outcome (a hand-edited row) is refused.
    init(row: Row) throws(StoreError) {
        try self.init(
            id: row.int64(0), orderNumber: row.string(1), paidAt: row.optionalDouble(2), state: row.string(3),
            attemptCount: row.int(4), requestCount: row.int(5), dueAt: row.optionalDouble(6), outcome: row.optionalString(7),
            lastStatus: row.optionalString(8), lastCode: row.optionalString(9), lastError: row.optionalString(10),
            createdAt: row.double(11), updatedAt: row.double(12), interruptions: row.int(13), lastAttempt: row.int(14),
            confirmation: row.optionalInt(15))
    }
}
