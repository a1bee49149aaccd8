import Foundation
import SQLite
import Testing
import TestSupport

@testable import CancelQueue
@testable import CancelStore

/// The schema is a contract with other programs: what it refuses, it must refuse for them too.
@Suite("Schema contract")
struct SchemaTests {
    /// A migrated database on a connection that may also write the daemon's rows (attempts,
    /// operator actions), as cancelq's own connections may.
    func migrated(_ dir: String) throws -> Connection {
        let db = try Connection(path: dir + "/q.db")
        try Migrator().migrate(db, now: 1)
        try CancelqWriterFunctions.define(on: db)
        return db
    }

    @Test("an application's plain INSERT is all it takes; defaults fill the rest")
    func plainInsert() async throws {
        try await withTemporaryDirectory { dir in
            let db = try migrated(dir)
            try db.run("INSERT INTO cancellations(order_number) VALUES ('ORDER-1')")
            try db.run("INSERT INTO cancellations(order_number, paid_at) VALUES ('ORDER-2', 1700000000)")
            let rows = try db.query(
                "SELECT state, attempt_count, paid_at, created_at > 1.7e9 FROM cancellations ORDER BY id"
            ) { "\($0.string(0)) \($0.int(1)) \($0.optionalDouble(2).map { "\($0)" } ?? "nil") \($0.int(3))" }
            #expect(rows == ["pending 0 nil 1", "pending 0 1700000000.0 1"])
        }
    }

    @Test(
        "order numbers that break the field rules are refused at insert, naming the rule",
        arguments: ["", "has space", String(repeating: "x", count: 51), "取消", "tab\there", "nul\u{0}x", "del\u{7F}"])
    func refusedOrderNumbers(_ order: String) async throws {
        try await withTemporaryDirectory { dir in
            let db = try migrated(dir)
            let error = #expect(throws: SQLiteError.self) {
                try db.run("INSERT INTO cancellations(order_number) VALUES (?)", order)
            }
            #expect(error?.isCheckViolation == true)
            #expect(error?.description.contains("order_number_must_be_1_to_50_bytes_of_printable_ascii_without_spaces") == true)
        }
    }

    @Test("the longest and the most symbol-laden valid order numbers are accepted")
    func acceptedOrderNumbers() async throws {
        try await withTemporaryDirectory { dir in
            let db = try migrated(dir)
            for order in [String(repeating: "9", count: 50), "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", "a"] {
                try db.run("INSERT INTO cancellations(order_number) VALUES (?)", order)
            }
            #expect(try db.queryOne("SELECT count(*) FROM cancellations") { $0.int(0) } == 3)
        }
    }

    @Test("a NULL, duplicate, non-text or negative value is refused")
    func otherRefusals() async throws {
        try await withTemporaryDirectory { dir in
            let db = try migrated(dir)
            try db.run("INSERT INTO cancellations(order_number) VALUES ('A')")
            let duplicate = #expect(throws: SQLiteError.self) { try db.run("INSERT INTO cancellations(order_number) VALUES ('A')") }
            #expect(duplicate?.description.contains("order_number_already_enqueued") == true)
            #expect(throws: SQLiteError.self) { try db.run("INSERT INTO cancellations(order_number) VALUES (NULL)") }
            #expect(throws: SQLiteError.self) { try db.run("INSERT INTO cancellations(order_number) VALUES (X'41')") }
            #expect(throws: SQLiteError.self) {
                try db.run("INSERT INTO cancellations(order_number, paid_at) VALUES ('B', -1)")
            }
            #expect(throws: SQLiteError.self) {
                try db.run("INSERT INTO cancellations(order_number, paid_at) VALUES ('C', 'yesterday')")
            }
            let state = #expect(throws: SQLiteError.self) {
                try db.run("INSERT INTO cancellations(order_number, state) VALUES ('D', 'done')")
            }
            #expect(state?.description.contains("insert_sets_only_order_number_and_paid_at") == true)
        }
    }

    @Test(
        "an insert that sets anything but order_number and paid_at is refused, naming the rule",
        arguments: [
            "state = 'waiting-delay'", "state = 'succeeded'", "attempt_count = 3", "request_count = 1", "due_at = 0",
            "outcome = 'cancelled'", "last_status = 'success'", "last_code = '000'", "last_error = 'x'",
            "interruptions = 2", "created_at = 1", "updated_at = 1e10", "id = 4242",
        ])
    func insertSetsOnlyTheApplicationsColumns(_ assignment: String) async throws {
        try await withTemporaryDirectory { dir in
            let db = try migrated(dir)
            let parts = assignment.components(separatedBy: " = ")
            let error = #expect(throws: SQLiteError.self) {
                try db.execute("INSERT INTO cancellations(order_number, \(parts[0])) VALUES ('SNEAKY-1', \(parts[1]))")
            }
            #expect(error?.description.contains("insert_sets_only_order_number_and_paid_at") == true, "\(String(describing: error))")
            #expect(try db.queryOne("SELECT count(*) FROM cancellations") { $0.int(0) } == 0)
        }
    }

    @Test("paid_at in milliseconds, infinite or more than 5 minutes ahead is refused; NaN arrives as NULL")
    func paidAtRules() async throws {
        try await withTemporaryDirectory { dir in
            let db = try migrated(dir)
            let now = Date().timeIntervalSince1970
            for (order, paidAt) in [("MS-1", now * 1000), ("FUTURE-1", now + 600), ("INF-1", Double.infinity)] {
                let error = #expect(throws: SQLiteError.self) {
                    try db.run("INSERT INTO cancellations(order_number, paid_at) VALUES (?, ?)", order, paidAt)
                }
                #expect(error?.description.contains("paid_at_must_not_be_in_the_future") == true, "\(order): \(String(describing: error))")
                #expect(error?.description.contains("milliseconds by mistake?") == true)
            }
            #expect(throws: SQLiteError.self) { try db.run("INSERT INTO cancellations(order_number, paid_at) VALUES ('NEG-1', ?)", -Double.infinity) }
            try db.run("INSERT INTO cancellations(order_number, paid_at) VALUES ('SOON-1', ?)", now + 60)  // clocks differ a little
            // SQLite stores a NaN as NULL: the delay then counts from the insert, which is never early.
            try db.run("INSERT INTO cancellations(order_number, paid_at) VALUES ('NAN-1', ?)", Double.nan)
            #expect(try db.queryOne("SELECT paid_at IS NULL FROM cancellations WHERE order_number = 'NAN-1'") { $0.int(0) } == 1)
        }
    }

    @Test(
        "id, order number, paid_at and created_at never change once queued (audit trail and delay rest on them)",
        arguments: ["id = 4242", "order_number = 'OTHER-1'", "paid_at = 5", "paid_at = NULL", "created_at = 1"])
    func identityAndTimesImmutable(_ assignment: String) async throws {
        try await withTemporaryDirectory { dir in
            let db = try migrated(dir)
            try db.run("INSERT INTO cancellations(order_number, paid_at) VALUES ('RIGHT-1', 1700000000)")
            let error = #expect(throws: SQLiteError.self) { try db.execute("UPDATE cancellations SET \(assignment)") }
            #expect(error?.description.contains("never change once queued") == true, "\(String(describing: error))")
            try db.run("UPDATE cancellations SET order_number = 'RIGHT-1', paid_at = 1700000000, state = 'retrying'")  // unchanged: allowed
        }
    }

    @Test("an attempt row for a job that does not exist is refused, even with foreign keys off")
    func orphanAttemptRefused() async throws {
        try await withTemporaryDirectory { dir in
            let db = try migrated(dir)
            try db.execute("PRAGMA foreign_keys = OFF")
            let error = #expect(throws: SQLiteError.self) {
                try db.run(
                    "INSERT INTO cancellation_attempts(cancellation_id, attempt, started_at, completed_at, result_status, result_code) VALUES (777777, 1, 1, 2, 'success', '000')")
            }
            #expect(error?.description.contains("no job with that cancellation_id") == true)
        }
    }

    @Test("a completed attempt can be neither changed nor deleted; an open one can be completed")
    func attemptTriggers() async throws {
        try await withTemporaryDirectory { dir in
            let db = try migrated(dir)
            try db.run("INSERT INTO cancellations(order_number) VALUES ('A')")
            try db.run("INSERT INTO cancellation_attempts(cancellation_id, attempt, started_at) VALUES (1, 1, 10)")
            #expect(throws: SQLiteError.self) { try db.run("DELETE FROM cancellation_attempts") }
            try db.run("UPDATE cancellation_attempts SET completed_at = 11, result_status = 'success', result_code = '000'")
            let update = #expect(throws: SQLiteError.self) {
                try db.run("UPDATE cancellation_attempts SET result_code = '999'")
            }
            #expect(update?.isTriggerAbort == true)
            #expect(update?.description.contains("audit trail") == true)
            #expect(throws: SQLiteError.self) { try db.run("DELETE FROM cancellation_attempts WHERE id = 1") }
            #expect(try db.queryOne("SELECT result_code FROM cancellation_attempts") { $0.string(0) } == "000")
        }
    }

    @Test("a job with attempts cannot be deleted, even with foreign keys off")
    func jobWithAttemptsIsKept() async throws {
        try await withTemporaryDirectory { dir in
            let db = try migrated(dir)
            try db.execute("PRAGMA foreign_keys = OFF")
            try db.run("INSERT INTO cancellations(order_number) VALUES ('A'), ('B')")
            try db.run("INSERT INTO cancellation_attempts(cancellation_id, attempt, started_at) VALUES (1, 1, 10)")
            let error = #expect(throws: SQLiteError.self) { try db.run("DELETE FROM cancellations WHERE id = 1") }
            #expect(error?.description.contains("cannot be deleted") == true)
            // A job never attempted may still be deleted by its application.
            #expect(try db.run("DELETE FROM cancellations WHERE id = 2") == 1)
        }
    }

    @Test("the daemon's due query can use the partial index, in due order without a sort")
    func dueQueryUsesIndex() async throws {
        try await withTemporaryDirectory { dir in
            let db = try migrated(dir)
            let plan = try db.query(
                """
                EXPLAIN QUERY PLAN SELECT id FROM cancellations INDEXED BY cancellations_due
                WHERE state IN ('waiting-delay', 'retrying', 'maintenance-paused') AND due_at <= ? ORDER BY due_at, id LIMIT 10
                """, [1.0]
            ) { $0.string(3) }
            #expect(plan.contains { $0.contains("cancellations_due") }, "plan: \(plan)")
            #expect(!plan.contains { $0.contains("TEMP B-TREE") }, "plan: \(plan)")
        }
    }
}

@Suite("State counts")
struct StateCountTests {
    @Test("the per-state counts follow every insert, state change and delete")
    func countsFollowChanges() async throws {
        try await withTemporaryDirectory { dir in
            let db = try Connection(path: dir + "/q.db")
            try Migrator().migrate(db, now: 1)
            try db.run("INSERT INTO cancellations(order_number) VALUES ('A'), ('B'), ('C')")
            try db.run("UPDATE cancellations SET state = 'waiting-delay' WHERE order_number IN ('A', 'B')")
            try db.run("UPDATE cancellations SET updated_at = 5 WHERE order_number = 'A'")  // no state change
            try db.run("DELETE FROM cancellations WHERE order_number = 'C'")
            let counts = try db.query("SELECT state, jobs FROM cancellation_state_counts WHERE jobs <> 0 ORDER BY state") {
                "\($0.string(0))=\($0.int(1))"
            }
            #expect(counts == ["waiting-delay=2"])
            let truth = try db.query("SELECT state, count(*) FROM cancellations GROUP BY state ORDER BY state") {
                "\($0.string(0))=\($0.int(1))"
            }
            #expect(counts == truth)
        }
    }

    @Test("migrating a database that already has jobs counts them")
    func migrationCountsExistingRows() async throws {
        try await withTemporaryDirectory { dir in
            let db = try Connection(path: dir + "/q.db")
            let first = Migrator(migrations: Array(Migrator.embedded.prefix(1)))
            try first.migrate(db, now: 1)
            try db.run("INSERT INTO cancellations(order_number, state) VALUES ('A', 'failed'), ('B', 'failed'), ('C', 'pending')")
            try Migrator().migrate(db, now: 2)
            let failed = try db.queryOne("SELECT jobs FROM cancellation_state_counts WHERE state = 'failed'") { $0.int(0) }
            #expect(failed == 2)
        }
    }
}
