import CancelBench
import Foundation
import SQLite
import Testing
import TestSupport

/// Rows edited behind the daemon's back, poison answers and shutdown, end to end.
extension HardeningTests {
    @Test("a job edited to retrying and due while its request is in flight is answered once and not left in sent")
    func editedToDueWhileInFlight() async throws {
        try await DaemonHarness.withHarness(latency: 1) { h in
            try await h.migrate()
            try h.enqueue(["INFLIGHT-1"])
            let daemon = try h.startDaemon(["--exit-when-idle"])
            #expect(await daemon.waitForOutput("attempt 1 sent", timeout: 10))
            try Connection(path: h.database).run(
                "UPDATE cancellations SET state = 'retrying', due_at = 0 WHERE order_number = 'INFLIGHT-1'")
            #expect(await daemon.waitForExit(timeout: 15) == 0, "\(daemon.output)")
            #expect(try h.jobs() == ["INFLIGHT-1": "succeeded/cancelled"])
            #expect(h.state.requests.count == 1)
            #expect(try h.attempts()["INFLIGHT-1"] == ["success/000"])
        }
    }

    @Test("enqueue, requeue and resume never migrate: a foreign, unmigrated or damaged database is refused")
    func operatorCommandsNeverMigrate() async throws {
        try await withTemporaryDirectory { dir in
            let rails = try Connection(path: dir + "/rails.db")
            try rails.execute("CREATE TABLE schema_migrations (version varchar PRIMARY KEY)")
            for arguments in [["enqueue", "A-1"], ["resume"], ["requeue", "--all-failed"], ["migrate"]] {
                let result = try await runCancelq(arguments + ["--db", dir + "/rails.db"])
                #expect(result.status != 0)
                #expect(result.stderr.contains("schema_migrations"), "\(arguments): \(result.stderr)")
                #expect(!result.stderr.contains("no such column"), "\(arguments): \(result.stderr)")
            }
            #expect(try rails.queryOne("SELECT count(*) FROM sqlite_schema") { $0.int(0) } == 2, "nothing was created")
            _ = FileManager.default.createFile(atPath: dir + "/empty.db", contents: nil)
            let empty = try await runCancelq(["enqueue", "--db", dir + "/empty.db", "A-1"])
            #expect(empty.stderr.contains("has no cancelq schema; run `cancelq migrate"), "\(empty.stderr)")
            #expect(try await runCancelq(["migrate", "--db", dir + "/q.db"]).status == 0)
            try Connection(path: dir + "/q.db").execute("DROP TRIGGER cancellations_insert_sets_only_order_number_and_paid_at")
            let damaged = try await runCancelq(["enqueue", "--db", dir + "/q.db", "A-1"])
            #expect(damaged.status != 0 && damaged.stderr.contains("is not what cancelq made"), "\(damaged.stderr)")
        }
    }

    @Test("an option's environment variable set but empty is refused, never read as the default")
    func emptyEnvironmentVariable() async throws {
        try await DaemonHarness.withHarness { h in
            for name in ["CANCELQ_ENDPOINT", "CANCELQ_DELAY", "CANCELQ_MAX_ATTEMPTS"] {
                let result = try await runCancelq(["run", "--db", h.database, "--client-ip", "12345", "--key-file", h.keyFile],
                                                  environment: [name: ""])
                #expect(result.status != 0)
                #expect(result.stderr.contains("\(name) is set but empty"), "\(name): \(result.stderr)")
            }
        }
    }

    @Test("a row edited to be due long before its payment time + delay is not sent early")
    func notSentEarly() async throws {
        try await DaemonHarness.withHarness { h in
            try await h.migrate()
            let daemon = try h.startDaemon(["--delay", "5"])
            #expect(await daemon.waitForOutput("cancelq started", timeout: 10))
            try h.enqueue(["EARLY-1"], paidAgo: 0)
            #expect(await daemon.waitForOutput("order EARLY-1: queued", timeout: 5))
            let app = try Connection(path: h.database)
            try app.run("UPDATE cancellations SET due_at = 0, state = 'retrying' WHERE order_number = 'EARLY-1'")
            try await Task.sleep(nanoseconds: 2_500_000_000)
            #expect(h.state.requests.isEmpty, "sent before paid_at + delay: \(daemon.output)")
            #expect(await eventually(timeout: 8) { h.state.requests.count == 1 })
            let paid = try #require(try h.reader().queryOne("SELECT paid_at FROM cancellations") { $0.double(0) })
            let sent = try #require(try h.reader().queryOne("SELECT started_at FROM cancellation_attempts") { $0.double(0) })
            #expect(sent >= paid + 5)
            daemon.signal(SIGTERM)
            #expect(await daemon.waitForExit(timeout: 10) == 0)
        }
    }

    @Test("a poison answer that crashes the daemon three times is quarantined; the fourth start drains the rest")
    func poisonJobQuarantined() async throws {
        try await DaemonHarness.withHarness(latency: 0.05) { h in
            try await h.migrate()
            try h.enqueue(["POISON-1", "FINE-1", "FINE-2"])
            let crash = ["CANCELQ_DEBUG_CRASH_ON_ANSWER": "POISON-1"]
            for run in 1...3 {
                let daemon = try h.startDaemon(["--concurrency", "1"], environment: crash)
                let status = await daemon.waitForExit(timeout: 20)
                #expect(status != nil && status != 0, "run \(run) should have crashed: \(daemon.output)")
            }
            let last = try h.startDaemon(["--exit-when-idle"], environment: crash)
            #expect(await last.waitForExit(timeout: 20) == 0, "\(last.output)")
            #expect(last.output.contains("order POISON-1: in flight at 3 abnormal stops in a row; quarantined"), "\(last.output)")
            let jobs = try h.jobs()
            #expect(jobs["POISON-1"] == "failed/quarantined")
            #expect(jobs["FINE-1"] == "succeeded/cancelled" && jobs["FINE-2"] == "succeeded/cancelled", "\(jobs)")
            #expect(h.state.requests.filter { $0.orderNumber == "POISON-1" }.count == 3, "never sent a fourth time")
            let check = try await runCancelq(["status", "--check", "--db", h.database])
            #expect(check.status == 1)
            let requeue = try await runCancelq(["requeue", "--db", h.database, "POISON-1"])
            #expect(requeue.stdout.contains("requeued POISON-1 (was failed: quarantined)"), "\(requeue.output)")
        }
    }

    @Test("SIGTERM while the commit waits out another writer's lock: the turn's claims are dropped, no request leaves after it")
    func sigtermDuringLockWaitSendsNothingMore() async throws {
        try await DaemonHarness.withHarness(latency: 0.5) { h in
            try await h.migrate()
            try h.enqueue((1...6).map { "LOCKED-\($0)" })
            let daemon = try h.startDaemon(["--concurrency", "2"])
            #expect(await daemon.waitForOutput("attempt 1 sent", timeout: 10))
            let blocker = try Connection(path: h.database)
            try blocker.execute("BEGIN IMMEDIATE")
            // The two answers arrive, their commit (with the next claims) waits for the lock.
            try await Task.sleep(nanoseconds: 2_000_000_000)
            let sentBeforeStop = h.state.requests.count
            daemon.signal(SIGTERM)
            try await Task.sleep(nanoseconds: 5_500_000_000)
            try blocker.execute("COMMIT")
            #expect(await daemon.waitForExit(timeout: 15) == 0, "\(daemon.output)")
            #expect(h.state.requests.count == sentBeforeStop, "requests left after SIGTERM: \(h.state.requests.count - sentBeforeStop)")
            #expect(daemon.output.contains("claimed job(s) not sent"), "\(daemon.output)")
            #expect(try h.reader().queryOne("SELECT count(*) FROM cancellations WHERE state = 'sent'") { $0.int(0) } == 0)
            #expect(try h.reader().queryOne("SELECT count(*) FROM cancellation_attempts") { $0.int(0) } == sentBeforeStop)
        }
    }

    @Test("SIGTERM is logged with what the daemon waits for")
    func sigtermLogLine() async throws {
        try await DaemonHarness.withHarness(latency: 1) { h in
            try await h.migrate()
            try h.enqueue(["SLOW-1"])
            let daemon = try h.startDaemon()
            #expect(await daemon.waitForOutput("attempt 1 sent", timeout: 10))
            daemon.signal(SIGTERM)
            #expect(await daemon.waitForExit(timeout: 10) == 0)
            #expect(daemon.output.contains("stopping: no new request leaves; waiting for 1 request(s) in flight"), "\(daemon.output)")
        }
    }

    @Test("after a backlog drains, the idle daemon stops waking up")
    func idleAfterBacklog() async throws {
        try await DaemonHarness.withHarness { h in
            try await h.migrate()
            try h.enqueue((1...300).map { "BACKLOG-\($0)" })
            let daemon = try h.startDaemon(["--concurrency", "8", "--poll-interval", "5"])
            #expect(try await h.waitForFinalStates(300, timeout: 30), "\(daemon.output)")
            try await Task.sleep(nanoseconds: 1_000_000_000)
            let before = Self.contextSwitches(pid: daemon.pid)
            try await Task.sleep(nanoseconds: 3_000_000_000)
            let switches = Self.contextSwitches(pid: daemon.pid) - before
            // Idle, the loop sleeps until the next scan (5 s); a few wake-ups of runtime threads remain.
            #expect(switches < 60, "\(switches) context switches in 3 s of idleness")
            daemon.signal(SIGTERM)
            #expect(await daemon.waitForExit(timeout: 10) == 0)
        }
    }

    /// Context switches of every thread of `pid` so far.
    static func contextSwitches(pid: Int32) -> Int {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        return tasks.reduce(0) { total, task in
            guard let status = try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/status", encoding: .utf8) else { return total }
            return total + status.split(separator: "\n").filter { $0.contains("ctxt_switches") }
                .compactMap { Int($0.split(separator: "\t").last ?? "") }.reduce(0, +)
        }
    }
}
