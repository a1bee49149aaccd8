import CancelQueue
import PostgresNIO

/// Typed reads from a result row; a column of an unexpected type is a `StoreError`, not a crash.
extension PostgresRandomAccessRow {
    package func value<T: PostgresDecodable>(_ index: Int, as type: T.Type = T.self) throws(StoreError) -> T {
        do {
            return try self[index].decode(T.self)
        } catch {
            throw .server(
                location: "result", message: "column \(self[index].columnName) could not be read as \(T.self): \(error)",
                constraint: nil)
        }
    }

    /// A job row selected with `PostgresQueue.jobColumns`.
    func jobRecord() throws(StoreError) -> JobRecord {
        try JobRecord(
            id: value(0), orderNumber: value(1), paidAt: value(2), state: value(3), attemptCount: value(4),
            requestCount: value(5), dueAt: value(6), outcome: value(7), lastStatus: value(8), lastCode: value(9),
            lastError: value(10), createdAt: value(11), updatedAt: value(12), interruptions: value(13),
            lastAttempt: value(14), confirmation: value(15), owner: value(16))
    }
}

extension PostgresQueue {
    /// The columns `jobRecord()` reads, in order: SQLite's, then the owner.
    static let jobColumns = JobRecord.columns + ", owner"
}
