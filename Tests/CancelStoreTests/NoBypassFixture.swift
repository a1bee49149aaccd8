import CancelCore
import Foundation
import QueueStoreConformance
import SQLite
import Testing
import TestSupport

@testable import CancelQueue
@testable import CancelStore

/// A queue with one row of every kind an application could try to overwrite: A succeeded (its
/// attempt says success/000), B withdrawn by `cancelq withdraw` (a withdrawal and an operator
/// action), C in flight (an open attempt), D waiting; the gate halted.
enum NoBypassFixture {
    static let tables = [
        "cancellations", "cancellation_attempts", "cancellation_withdrawals", "operator_actions", "sending_gate",
        "cancellation_state_counts", "schema_migrations",
    ]

    static func withQueue(_ body: (CancelStore, String) async throws -> Void) async throws {
        try await withTemporaryDirectory { dir in
            let path = dir + "/q.db"
            let store = try CancelStore.open(path: path, create: true)
            let now = QueueClock.now()
            for order in ["A", "B", "C", "D"] { _ = try store.enqueueNow(orderNumber: order, paidAt: now - 60) }
            try await store.apply(try store.pendingJobs(limit: 10).map { try QueueStoreConformance.discovered($0, due: now - 50) }, now: now)
            let claimA = try QueueStoreConformance.claimed(try #require(try store.job(orderNumber: "A")), at: now)
            try await store.apply([claimA], now: now)
            try await store.apply([try QueueStoreConformance.answered(claimA, at: now)], now: now)
            _ = try await store.withdraw(orderNumbers: ["B"], reason: "queued by mistake", by: "alice")
            try await store.apply([try QueueStoreConformance.claimed(try #require(try store.job(orderNumber: "C")), at: now)], now: now)
            try store.connection.run("UPDATE sending_gate SET mode = 'halted', reason = 'credentials', code = '02130114', since = ? WHERE id = 1", now)
            try await body(store, path)
        }
    }

    /// Every row of every cancelq table, each column quoted: equal snapshots mean nothing changed.
    static func snapshot(_ db: Connection) throws -> [String: [String]] {
        var result: [String: [String]] = [:]
        for table in tables {
            let columns = try db.query("SELECT name FROM pragma_table_info(?) ORDER BY cid", [table]) { $0.string(0) }
            let row = columns.map { "quote(\"\($0)\")" }.joined(separator: " || '|' || ")
            result[table] = try db.query("SELECT \(row) FROM \"\(table)\" ORDER BY 1") { $0.string(0) }
        }
        return result
    }
}
