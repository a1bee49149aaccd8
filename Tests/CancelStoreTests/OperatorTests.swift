import CancelCore
import Foundation
import SQLite
import Testing
import TestSupport

@testable import CancelQueue
@testable import CancelStore

@Suite("Status report, requeue and resume")
struct OperatorTests {
    let now = 1_800_000_000.0

    func seeded(_ dir: String) throws -> CancelStore {
        let store = try CancelStore.open(path: dir + "/q.db", create: true, now: now - 1000)
        let db = store.connection
        // Applications insert order numbers only; the daemon's columns are set as it would. Queue
        // times in the past need the immutability trigger lifted for a moment (restored below).
        try db.run("INSERT INTO cancellations(order_number) VALUES ('OK-1'), ('FAIL-1'), ('WAIT-1'), ('LATE-1')")
        try db.execute("DROP TRIGGER cancellations_identity_and_times_are_immutable")
        // A job is succeeded only on the gateway's confirmation in its audit trail.
        try db.run(
            """
            INSERT INTO cancellation_attempts(cancellation_id, attempt, started_at, completed_at, http_status, result_status, result_code, counted)
            SELECT id, 1, ?1 - 11, ?1 - 10, 200, 'success', '000', 0 FROM cancellations WHERE order_number = 'OK-1'
            """, now)
        try db.run(
            """
            UPDATE cancellations SET state = v.column2, outcome = v.column3, last_status = v.column4, last_code = v.column5,
                attempt_count = v.column6, request_count = v.column7, due_at = v.column8, created_at = v.column9,
                updated_at = v.column10
            FROM (VALUES
                ('OK-1', 'succeeded', 'cancelled', 'success', '000', 0, 1, NULL, ?1 - 500, ?1 - 10),
                ('FAIL-1', 'failed', 'gave-up', 'failure', '02189999', 10, 10, NULL, ?1 - 900, ?1 - 20),
                ('WAIT-1', 'waiting-delay', NULL, NULL, NULL, 0, 0, ?1 + 12, ?1 - 800, ?1 - 800),
                ('LATE-1', 'retrying', NULL, 'failure', '02189999', 1, 1, ?1 - 600, ?1 - 700, ?1 - 700)) AS v
            WHERE order_number = v.column1
            """, now)
        #expect(try SchemaCheck.repair(db).isEmpty)
        return store
    }

    @Test("the report counts every state and finds the oldest, the next due, today's and the failures")
    func report() async throws {
        try await withTemporaryDirectory { dir in
            let report = try seeded(dir).statusReport(now: now, startOfDay: now - 100)
            #expect(report.counts == ["pending": 0, "waiting-delay": 1, "sent": 0, "succeeded": 1, "failed": 1, "retrying": 1,
                                      "maintenance-paused": 0, "withdrawn": 0])
            #expect(report.total == 4 && report.unfinished == 2)
            #expect(report.oldestUnfinished?.orderNumber == "WAIT-1")
            #expect(report.nextDue?.orderNumber == "LATE-1")
            #expect(report.overdueSeconds == 600)
            #expect(report.today == .init(since: now - 100, succeeded: 1, failed: 1))
            #expect(report.recentFailures.map(\.orderNumber) == ["FAIL-1"])
            #expect(report.recentFailures.first?.meaning == CodeTable.meaning(of: "02189999"))
            #expect(report.health.status == .attention)
            #expect(report.health.reasons.contains { $0.contains("10 min late") })
            #expect(report.health.reasons.contains { $0.contains("1 job(s) failed") })
        }
    }

    @Test("halted, and paused longer than the threshold, need attention; a short pause does not")
    func gateHealth() async throws {
        try await withTemporaryDirectory { dir in
            let store = try CancelStore.open(path: dir + "/q.db", create: true, now: now)
            try store.saveGateNow(.halted(.credentialsRejected(code: "02130210"), since: now - 5), now: now)
            let halted = try store.statusReport(now: now, startOfDay: now)
            #expect(halted.sending.mode == .halted && halted.sending.code == "02130210")
            #expect(halted.health.reasons.first?.hasPrefix("sending halted") == true)
            try store.saveGateNow(.paused(until: now + 100, streak: 1, since: now - 60), now: now)
            #expect(try store.statusReport(now: now, startOfDay: now).health.status == .ok)
            try store.saveGateNow(.paused(until: now + 100, streak: 4, since: now - 7200), now: now)
            #expect(try store.statusReport(now: now, startOfDay: now).health.reasons.first?.contains("paused for maintenance for 2 h") == true)
        }
    }

    @Test("requeue moves a failed job to pending with a fresh budget and an audit row; others are refused with the reason")
    func requeue() async throws {
        try await withTemporaryDirectory { dir in
            let store = try seeded(dir)
            let results = try await store.requeue(orderNumbers: ["FAIL-1", "OK-1", "WAIT-1", "NOPE"], now: now)
            #expect(results[0] == .requeued(orderNumber: "FAIL-1", previousOutcome: "gave-up"))
            guard case .refused(_, let reason) = results[1] else { Issue.record("OK-1 was requeued"); return }
            #expect(reason.contains("it is succeeded") && reason.contains("confirmed"))
            guard case .refused = results[2], case .refused(_, let missing) = results[3] else { Issue.record("refusals"); return }
            #expect(missing == "no such order in the queue")
            let job = try #require(try store.job(orderNumber: "FAIL-1"))
            #expect(job.state == .pending && job.job.attemptCount == 0 && job.job.outcome == nil && job.requestCount == 10)
            let timeline = try #require(try await store.timeline(orderNumber: "FAIL-1"))
            #expect(timeline.operatorActions.first?.action == "requeue")
            #expect(try await store.requeueAllFailed(now: now).isEmpty)
        }
    }

    @Test("resume ends a pause now with one probe to come (not a burst), lets one request test a halt's credentials, and records both")
    func resume() async throws {
        try await withTemporaryDirectory { dir in
            let store = try CancelStore.open(path: dir + "/q.db", create: true, now: now)
            #expect(try await store.resumeSending(now: now) == .open)
            try store.connection.run("INSERT INTO cancellations(order_number) VALUES ('P-1')")
            try store.connection.run("UPDATE cancellations SET state = 'maintenance-paused', due_at = ? WHERE order_number = 'P-1'", now + 300)
            try store.saveGateNow(.paused(until: now + 300, streak: 1, since: now), now: now)
            #expect(try await store.resumeSending(now: now + 1) == .paused(until: now + 300, streak: 1, since: now))
            // Still paused, but over: the daemon's next claim is one probe, whose answer decides.
            #expect(try store.loadGateNow() == .paused(until: now + 1, streak: 1, since: now))
            #expect(try store.loadGateNow().allowance(now: now + 1, probeInFlight: false) == .probe)
            #expect(try store.job(orderNumber: "P-1")?.job.dueAt == now + 1)
            let halt = HaltReason.credentialsRejected(code: "02130210")
            try store.saveGateNow(.halted(halt, since: now), now: now)
            _ = try await store.resumeSending(now: now + 2)
            // Still halted until one request shows the credentials work; stored and read back so.
            #expect(try store.loadGateNow() == .testingCredentials(halt, since: now))
            #expect(try store.loadGateNow().allowance(now: now + 2, probeInFlight: false) == .probe)
            #expect(try store.connection.queryOne("SELECT count(*) FROM operator_actions WHERE action = 'resume'") { $0.int(0) } == 2)
        }
    }
}

@Suite("status --json shape")
struct StatusJSONTests {
    @Test("every documented field is written, null included, in the report and the order timeline")
    func nullsAreWritten() async throws {
        try await withTemporaryDirectory { dir in
            let store = try CancelStore.open(path: dir + "/q.db", create: true)
            _ = try store.enqueueNow(orderNumber: "J-1", paidAt: nil)
            let report = try store.statusReport(now: 1_800_000_000, startOfDay: 1_799_990_000)
            let object = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(report)) as? [String: Any])
            #expect(object["next_due"] is NSNull, "no job due yet: null, not absent")
            let sending = try #require(object["sending"] as? [String: Any])
            for key in ["since", "paused_until", "reason", "code"] {
                #expect(sending[key] is NSNull, "sending.\(key): \(String(describing: sending[key]))")
            }
            let timeline = try #require(try await store.timeline(orderNumber: "J-1"))
            let order = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(timeline)) as? [String: Any])
            for key in ["outcome", "paid_at", "due_at"] {
                #expect(order[key] is NSNull, "\(key): \(String(describing: order[key]))")
            }
        }
    }
}

@Suite("Stored values cancelq does not know")
struct UnknownStoredValueTests {
    @Test("an unknown gate mode, state or outcome in the database is an error naming the column, never a silent default")
    func unknownValuesAreErrors() async throws {
        try await withTemporaryDirectory { dir in
            let store = try CancelStore.open(path: dir + "/q.db", create: true)
            let db = store.connection
            // The schema's CHECKs refuse such values; a writer who drops them (or a newer cancelq) does not.
            try db.execute("PRAGMA ignore_check_constraints = ON")
            try db.run("UPDATE sending_gate SET mode = 'held-by-someone'")
            #expect(throws: StoreError.unknownStoredValue(column: "sending_gate.mode", value: "held-by-someone")) { try store.loadGateNow() }
            try db.run("UPDATE sending_gate SET mode = 'open'")
            _ = try store.enqueueNow(orderNumber: "ODD-1", paidAt: nil)
            try db.run("UPDATE cancellations SET outcome = 'vanished' WHERE order_number = 'ODD-1'")
            #expect(throws: StoreError.unknownStoredValue(column: "cancellations.outcome", value: "vanished")) {
                try store.job(orderNumber: "ODD-1")
            }
        }
    }
}
