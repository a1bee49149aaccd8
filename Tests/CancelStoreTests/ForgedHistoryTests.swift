import CancelCore
import Foundation
import QueueStoreConformance
import SQLite
import Testing
import TestSupport

@testable import CancelQueue
@testable import CancelStore

/// Issue 18, point 6: an application that inserts a completed success/000 attempt row would make
/// the daemon mark its job succeeded without sending anything. Attempt rows and operator actions
/// come from cancelq's own connections only; what applications may do still works.
@Suite("No bypass: attempt rows and operator actions come from cancelq only")
struct ForgedHistoryTests {
    static let forgeries: [(sql: String, rule: String)] = [
        // A forged success for D, waiting to be sent.
        ("INSERT INTO cancellation_attempts(cancellation_id, attempt, started_at, completed_at, http_status, result_status, result_code, counted) VALUES (4, 1, 1, 2, 200, 'success', '000', 1)",
         CancelqWriterFunctions.attemptRows),
        // C's request is in flight: its open row "answered" by hand.
        ("UPDATE cancellation_attempts SET completed_at = 2, http_status = 200, result_status = 'success', result_code = '000' WHERE cancellation_id = 3",
         CancelqWriterFunctions.attemptRows),
        ("INSERT INTO operator_actions(at, action, detail, operator) VALUES (1, 'approve', 'released 1 waiting job(s)', 'alice')",
         CancelqWriterFunctions.operatorActions),
        // A halt or a surge hold released behind the operator's back, or the gate row removed.
        ("UPDATE sending_gate SET mode = 'open', reason = NULL, code = NULL", CancelqWriterFunctions.sendingGate),
        ("DELETE FROM sending_gate", CancelqWriterFunctions.sendingGate),
        ("INSERT INTO sending_gate(id, mode) VALUES (2, 'open')", CancelqWriterFunctions.sendingGate),
    ]

    @Test("a plain connection's forged attempt, answered open attempt, operator action and gate change are refused, naming the rule")
    func plainConnectionForgeriesRefused() async throws {
        try await NoBypassFixture.withQueue { store, path in
            let application = try Connection(path: path)
            let before = try NoBypassFixture.snapshot(application)
            for forgery in Self.forgeries {
                let error = #expect(throws: SQLiteError.self) { try application.run(forgery.sql) }
                #expect(error?.message == "no such function: \(forgery.rule)", "\(forgery.sql)")
            }
            // Deleting or changing the audit trail is refused to every connection (0001, 0004).
            for sql in ["DELETE FROM cancellation_attempts", "DELETE FROM operator_actions", "UPDATE operator_actions SET operator = 'x'"] {
                #expect(throws: SQLiteError.self, "\(sql)") { try application.run(sql) }
            }
            #expect(try NoBypassFixture.snapshot(application) == before)
            #expect(try store.job(orderNumber: "D")?.state == .waitingDelay)
        }
    }

    @Test("an application's UPDATE to succeeded is refused without the gateway's confirmation in the audit trail")
    func forgedSucceededStateRefused() async throws {
        try await NoBypassFixture.withQueue { store, path in
            let application = try Connection(path: path)
            let before = try NoBypassFixture.snapshot(application)
            for sql in [
                "UPDATE cancellations SET state = 'succeeded', outcome = 'cancelled' WHERE order_number = 'D'",
                "UPDATE OR REPLACE cancellations SET state = 'succeeded' WHERE order_number = 'D'",
                "UPDATE cancellations SET state = 'succeeded' WHERE order_number = 'C'",
            ] {
                let error = #expect(throws: SQLiteError.self, "\(sql)") { try application.run(sql) }
                #expect(error?.message.hasPrefix("succeeded_only_on_the_gateways_confirmation") == true, "\(error.map(\.description) ?? "")")
            }
            #expect(try NoBypassFixture.snapshot(application) == before)
            #expect(try store.job(orderNumber: "D")?.state == .waitingDelay)
        }
    }

    @Test("the sqlite3 shell an application would use gets the same refusal")
    func sqliteShellRefused() async throws {
        try await NoBypassFixture.withQueue { _, path in
            let result = try runProgram("/usr/bin/sqlite3", [path, Self.forgeries[0].sql])
            #expect(result.status != 0)
            #expect(result.output.contains("no such function: attempt_rows_are_written_by_cancelq_only"), "\(result.output)")
        }
    }

    @Test("an application that drops a writer guard is found by the schema check (run refuses, --check fails) and repaired")
    func droppedGuardIsReported() async throws {
        try await NoBypassFixture.withQueue { store, path in
            let application = try Connection(path: path)
            try application.execute("DROP TRIGGER cancellation_attempts_inserted_by_cancelq_only")
            try application.execute("DROP TRIGGER cancellations_order_number_already_enqueued")
            let problems = try store.schemaProblems().map(\.description)
            #expect(problems.contains("trigger cancellation_attempts_inserted_by_cancelq_only is missing"), "\(problems)")
            #expect(problems.contains("trigger cancellations_order_number_already_enqueued is missing"), "\(problems)")
            #expect(throws: StoreError.self) { try CancelStore.openMigrated(path: path) }
            #expect(try SchemaCheck.repair(store.connection).isEmpty)
            #expect(throws: SQLiteError.self) { try Connection(path: path).run(Self.forgeries[0].sql) }
        }
    }

    @Test("what applications may do still works: insert, withdraw (no attempt or operator row), delete an unsent job; cancelq writes as before")
    func applicationsAndCancelqUnaffected() async throws {
        try await NoBypassFixture.withQueue { store, path in
            let application = try Connection(path: path)
            let rows = { (table: String) in try application.queryOne("SELECT count(*) FROM \(table)") { $0.int(0) } ?? -1 }
            let (attempts, actions) = (try rows("cancellation_attempts"), try rows("operator_actions"))
            try application.run("INSERT INTO cancellations(order_number, paid_at) VALUES ('E', ?)", QueueClock.now() - 60)
            try application.run("INSERT INTO cancellation_withdrawals(order_number, reason) VALUES ('D', 'queued by mistake')")
            try application.run("INSERT INTO cancellations(order_number) VALUES ('G')")
            #expect(try application.run("DELETE FROM cancellations WHERE order_number = 'G'") == 1)
            #expect(try store.job(orderNumber: "D")?.state == .withdrawn)
            #expect(try rows("cancellation_attempts") == attempts && rows("operator_actions") == actions)
            // cancelq's own connection: a claim, its answer, an operator's withdrawal.
            let now = QueueClock.now()
            try await store.apply(try store.pendingJobs(limit: 10).map { try QueueStoreConformance.discovered($0, due: now - 50) }, now: now)
            let claim = try QueueStoreConformance.claimed(try #require(try store.job(orderNumber: "E")), at: now)
            #expect(try await store.apply([claim], now: now).isEmpty)
            #expect(try await store.apply([try QueueStoreConformance.answered(claim, at: now)], now: now).isEmpty)
            #expect(try store.job(orderNumber: "E")?.state == .succeeded)
            #expect(try rows("cancellation_attempts") == attempts + 1)
            _ = try store.enqueueNow(orderNumber: "H", paidAt: nil)
            #expect(try await store.withdraw(orderNumbers: ["H"], reason: nil, by: "alice") == [.withdrawn(orderNumber: "H", previousState: .pending)])
            #expect(try rows("operator_actions") == actions + 1)
        }
    }
}
