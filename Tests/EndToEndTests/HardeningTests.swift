import CancelBench
import Foundation
import SQLite
import Testing
import TestSupport

/// The hardening issue: each defence of `cancelq run`, tried the way an attacker or a careless
/// application would get around it.
@Suite("Defences of the daemon, tried from outside", .timeLimit(.minutes(2)))
struct HardeningTests {
    @Test("a second daemon through a symlink, a hard link or `..` is refused: one daemon per database file")
    func secondDaemonThroughAnotherPath() async throws {
        try await DaemonHarness.withHarness { h in
            try await h.migrate()
            let first = try h.startDaemon()
            #expect(await first.waitForOutput("cancelq started", timeout: 10), "\(first.output)")
            try FileManager.default.createDirectory(atPath: h.directory + "/sub", withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: h.directory + "/link.db", withDestinationPath: h.database)
            #expect(link(h.database, h.directory + "/hard.db") == 0)
            for other in [h.directory + "/link.db", h.directory + "/hard.db", h.directory + "/sub/../queue.db"] {
                var arguments = h.runArguments()
                arguments[arguments.firstIndex(of: h.database)!] = other
                let second = try await runCancelq(arguments)
                #expect(second.status != 0, "\(other): \(second.output)")
                #expect(second.stderr.contains("another cancelq run (pid \(first.pid)) is already working on \(other)"), "\(second.stderr)")
            }
            first.signal(SIGTERM)
            #expect(await first.waitForExit(timeout: 10) == 0)
        }
    }

    @Test("the -wal deleted under a running daemon: its next commit goes nowhere, so it stops non-zero before sending")
    func walDeletedBeforeOwnCommit() async throws {
        try await DaemonHarness.withHarness { h in
            try await h.migrate()
            let daemon = try h.startDaemon(["--concurrency", "1"])
            #expect(await daemon.waitForOutput("cancelq started", timeout: 10))
            // Due 2 s from now (delay 10 s): the daemon claims it long after the WAL is gone.
            try h.enqueue(["AFTER-WAL-1"], paidAgo: 8)
            #expect(await daemon.waitForOutput("order AFTER-WAL-1: queued", timeout: 5))
            try FileManager.default.removeItem(atPath: h.database + "-wal")
            #expect(await daemon.waitForExit(timeout: 10).map { $0 != 0 } == true, "\(daemon.output)")
            #expect(daemon.output.contains("queue.db-wal was deleted while the daemon was running"), "\(daemon.output)")
            #expect(h.state.requests.isEmpty, "a claim committed into a deleted WAL must not be sent")
        }
    }

    @Test("the -wal deleted and an application writing a new one: the daemon stops non-zero and says what happened")
    func walReplacedByAnotherWriter() async throws {
        try await DaemonHarness.withHarness { h in
            try await h.migrate()
            let daemon = try h.startDaemon(["--concurrency", "1"])
            #expect(await daemon.waitForOutput("cancelq started", timeout: 10))
            try FileManager.default.removeItem(atPath: h.database + "-wal")
            try h.enqueue(["AFTER-WAL-2"])
            #expect(await daemon.waitForExit(timeout: 10).map { $0 != 0 } == true, "\(daemon.output)")
            #expect(daemon.output.contains("queue.db-wal was replaced while the daemon was running"), "\(daemon.output)")
            #expect(h.state.requests.isEmpty)
        }
    }

    @Test("run refuses a database with other tables and no cancelq schema; migrate adds it only when asked")
    func foreignDatabase() async throws {
        try await DaemonHarness.withHarness { h in
            let shop = try Connection(path: h.database)
            try shop.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, total REAL)")
            let refused = try await runCancelq(h.runArguments(["--exit-when-idle"]))
            #expect(refused.status != 0)
            #expect(refused.stderr.contains("already holds 1 other table(s) (orders) and no cancelq schema"), "\(refused.stderr)")
            #expect(try shop.queryOne("SELECT count(*) FROM sqlite_schema WHERE name = 'cancellations'") { $0.int(0) } == 0)
            #expect(try await runCancelq(["migrate", "--db", h.database]).status != 0)
            let explicit = try await runCancelq(["migrate", "--db", h.database, "--alongside-other-tables"])
            #expect(explicit.status == 0, "\(explicit.output)")
            #expect(try await runCancelq(h.runArguments(["--exit-when-idle"])).status == 0)
        }
    }

    @Test("a dropped audit trigger: status --check says attention, run refuses to start, migrate restores it")
    func droppedTrigger() async throws {
        try await DaemonHarness.withHarness { h in
            try await h.migrate()
            try Connection(path: h.database).execute("DROP TRIGGER cancellation_attempts_completed_are_immutable")
            let check = try await runCancelq(["status", "--check", "--db", h.database])
            #expect(check.status == 1, "\(check.output)")
            #expect(check.stdout.contains("trigger cancellation_attempts_completed_are_immutable is missing"), "\(check.stdout)")
            let run = try await runCancelq(h.runArguments(["--exit-when-idle"]))
            #expect(run.status != 0)
            #expect(run.stderr.contains("is not what cancelq made"), "\(run.stderr)")
            let repair = try await runCancelq(["migrate", "--db", h.database])
            #expect(repair.stdout.contains("repaired: trigger cancellation_attempts_completed_are_immutable is missing"), "\(repair.output)")
            #expect(try await runCancelq(["status", "--check", "--db", h.database]).status == 0)
        }
    }

    @Test("wrong paths and thresholds get one line saying what is wrong")
    func wrongPathsAndThresholds() async throws {
        try await withTemporaryDirectory { dir in
            let directory = try await runCancelq(["status", "--db", dir])
            #expect(directory.stderr.contains("\(dir) is a directory; --db takes the database file"), "\(directory.stderr)")
            let nan = try await runCancelq(["status", "--check", "--db", dir + "/q.db", "--max-overdue", "nan"])
            #expect(nan.status != 0)
            #expect(nan.stderr.contains("--max-overdue must be a number of seconds"), "\(nan.stderr)")
        }
    }

    @Test("jobs changed behind the daemon's back affect only themselves: every answer is recorded, the daemon goes on")
    func tamperedJobsInFlight() async throws {
        try await DaemonHarness.withHarness(latency: 0.6) { h in
            try await h.migrate()
            let orders = (1...6).map { "TAMPER-\($0)" }
            try h.enqueue(orders)
            let daemon = try h.startDaemon(["--concurrency", "6", "--exit-when-idle"])
            let allSent = try await eventually(timeout: 10) {
                try h.reader().queryOne("SELECT count(*) FROM cancellations WHERE state = 'sent'") { $0.int(0) } == 6
            }
            #expect(allSent, "\(daemon.output)")
            let app = try Connection(path: h.database)
            try app.run("UPDATE cancellations SET state = 'failed', outcome = 'gave-up' WHERE order_number = 'TAMPER-1'")
            try app.run("UPDATE cancellations SET state = 'pending' WHERE order_number = 'TAMPER-2'")
            try app.run("UPDATE cancellations SET attempt_count = 9223372036854775807, request_count = 0, interruptions = 9223372036854775807 WHERE order_number = 'TAMPER-3'")
            // The open attempt row completed by someone else (only a writer posing as cancelq can:
            // the schema refuses an application's): the answer still moves the job on.
            let posingAsCancelq = try Connection(path: h.database)
            try posingAsCancelq.defineMarkerFunction("attempt_rows_are_written_by_cancelq_only")
            try posingAsCancelq.run(
                """
                UPDATE cancellation_attempts SET completed_at = 1, error = 'forged by app'
                WHERE cancellation_id = (SELECT id FROM cancellations WHERE order_number = 'TAMPER-4')
                """)
            #expect(await daemon.waitForExit(timeout: 20) == 0, "\(daemon.output)")
            #expect(daemon.output.contains("order TAMPER-1 (job 1): changed behind the daemon's back"), "\(daemon.output)")
            let jobs = try h.jobs()
            #expect(jobs["TAMPER-1"] == "failed/gave-up", "left as the other writer set it")
            for order in ["TAMPER-3", "TAMPER-4", "TAMPER-5", "TAMPER-6"] {
                #expect(jobs[order] == "succeeded/cancelled", "\(order): \(jobs[order] ?? "-")")
            }
            // TAMPER-2 was put back to pending after its cancellation: its audit trail holds the
            // confirmation, so it is never sent again.
            #expect(jobs["TAMPER-2"] == "succeeded/cancelled", "\(jobs)")
            #expect(h.state.requests.filter { $0.orderNumber == "TAMPER-2" }.count == 1)
            // Every request the gateway saw has its answer in the audit trail.
            let attempts = try h.attempts()
            for order in orders where order != "TAMPER-4" {
                #expect(attempts[order] == ["success/000"], "\(order): \(attempts[order] ?? [])")
            }
            #expect(attempts["TAMPER-4"] == ["error: forged by app", "success/000"], "\(attempts["TAMPER-4"] ?? [])")
            #expect(daemon.output.contains("order TAMPER-4 (job 4): its open attempt row was changed behind the daemon's back"))
        }
    }

    @Test("a deleted sending_gate row cannot lose a halt: one request, then nothing")
    func deletedGateRowKeepsHalt() async throws {
        try await DaemonHarness.withHarness(daemonKey: "WRONG-KEY-99") { h in
            try await h.migrate()
            // Through a connection that passes the writer guard (an application cannot delete it).
            let tamperer = try Connection(path: h.database)
            try tamperer.defineMarkerFunction("sending_gate_is_written_by_cancelq_only")
            try tamperer.execute("DELETE FROM sending_gate")
            try h.enqueue(["G-1", "G-2", "G-3"])
            let daemon = try h.startDaemon(["--concurrency", "1"])
            #expect(await daemon.waitForOutput("SENDING HALTED", timeout: 10), "\(daemon.output)")
            try await Task.sleep(nanoseconds: 1_500_000_000)
            #expect(h.state.requests.count == 1, "sent on after a halt: \(h.state.requests.count)")
            #expect(try h.reader().queryOne("SELECT mode FROM sending_gate") { $0.string(0) } == "halted")
            daemon.signal(SIGTERM)
            #expect(await daemon.waitForExit(timeout: 10) == 0)
        }
    }
}
