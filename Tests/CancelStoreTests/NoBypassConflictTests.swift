import Foundation
import SQLite
import Testing
import TestSupport

@testable import CancelQueue
@testable import CancelStore

/// Issue 18, points 2 and 3: REPLACE deletes the row it conflicts with and fires no DELETE trigger
/// (a withdrawn job queued afresh, a confirmed one sent again, an attempt or an operator action
/// rewritten). Every conflict on every cancelq table is a named error, whatever the clause.
@Suite("No bypass: conflicts are errors")
struct NoBypassConflictTests {
    @Test("a statement that meets an existing row fails with the named error and changes nothing", arguments: ConflictCase.all)
    func conflictIsAnError(_ conflict: ConflictCase) async throws {
        try await NoBypassFixture.withQueue { store, path in
            let db = try Connection(path: path)
            if conflict.asCancelq { try CancelqWriterFunctions.define(on: db) }
            let before = try NoBypassFixture.snapshot(db)
            let error = #expect(throws: SQLiteError.self) { try db.execute(conflict.sql) }
            #expect(error?.message.contains(conflict.refusal) == true, "\(error.map(\.description) ?? "no error")")
            #expect(try NoBypassFixture.snapshot(db) == before)
            #expect(try store.schemaProblems().isEmpty)
        }
    }

    @Test("the README's idiom queues an order once and is quiet about a repeat; cancelq enqueue is idempotent on it")
    func insertWhereNotExists() async throws {
        try await NoBypassFixture.withQueue { store, path in
            let db = try Connection(path: path)
            let idiom = """
                INSERT INTO cancellations(order_number, paid_at)
                SELECT ?, ? WHERE NOT EXISTS (SELECT 1 FROM cancellations WHERE order_number = ?)
                """
            #expect(try db.run(idiom, "E", 1_700_000_000.0, "E") == 1)
            #expect(try db.run(idiom, "E", 1_700_000_000.0, "E") == 0)
            #expect(try db.run(idiom, "B", Double?.none, "B") == 0, "a withdrawn order stays withdrawn")
            #expect(try store.enqueueNow(orderNumber: "B", paidAt: nil).created == false)
            #expect(try store.job(orderNumber: "B")?.state == .withdrawn)
            #expect(try store.enqueueNow(orderNumber: "F", paidAt: nil).created == true)
            #expect(try store.enqueueNow(orderNumber: "F", paidAt: nil).created == false)
            let counts = try db.query("SELECT state, jobs FROM cancellation_state_counts WHERE jobs > 0 ORDER BY state") { "\($0.string(0)) \($0.int(1))" }
            let actual = try db.query("SELECT state, count(*) FROM cancellations GROUP BY state ORDER BY state") { "\($0.string(0)) \($0.int(1))" }
            #expect(counts == actual)
        }
    }

    @Test("the daemon's gate row is put back without a conflict clause when another writer deleted it")
    func gateRowRestored() async throws {
        try await NoBypassFixture.withQueue { store, _ in
            try store.connection.run("DELETE FROM sending_gate")
            try store.saveGateNow(.open, now: QueueClock.now())
            #expect(try store.connection.queryOne("SELECT mode FROM sending_gate WHERE id = 1") { $0.string(0) } == "open")
        }
    }
}
