import Foundation
import SQLite
import Testing
import TestSupport

/// `status`, `requeue` and `resume` as an operator runs them, against a live daemon.
@Suite("cancelq status, requeue and resume end to end", .timeLimit(.minutes(1)))
struct OperatorCommandTests {
    @Test("status in all four forms answers while the daemon writes, and never blocks it")
    func statusWhileDaemonWrites() async throws {
        try await DaemonHarness.withHarness(latency: 0.05) { h in
            try await h.migrate()
            let orders = (1...40).map { "LIVE-\($0)" }
            try h.enqueue(orders)
            let daemon = try h.startDaemon(["--exit-when-idle", "--concurrency", "4"])
            var rounds = 0
            var slowest = 0.0
            while daemon.isRunning && rounds < 200 {
                for arguments in [["status"], ["status", "--json"], ["status", "--check"], ["status", "--order", "LIVE-7"]] {
                    let start = Date()
                    let result = try await runCancelq(arguments + ["--db", h.database])
                    slowest = max(slowest, Date().timeIntervalSince(start))
                    #expect(result.status == 0 || (arguments.contains("--check") && result.status == 1), "\(arguments): \(result.output)")
                    if arguments == ["status", "--json"] {
                        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
                        let counts = object?["counts"] as? [String: Int] ?? [:]
                        #expect(counts.values.reduce(0, +) == orders.count, "\(counts)")
                        #expect(counts.count == 8)
                    }
                }
                rounds += 1
            }
            #expect(await daemon.waitForExit(timeout: 20) == 0, "\(daemon.output)")
            #expect(rounds > 0)
            #expect(slowest < 3, "a status call took \(slowest) s")
            let final = try await runCancelq(["status", "--db", h.database])
            #expect(final.stdout.contains("succeeded 40"))
            let check = try await runCancelq(["status", "--check", "--db", h.database])
            #expect(check.status == 0)
            #expect(check.stdout == "OK - 0 unfinished, sending open\n")
            let order = try await runCancelq(["status", "--order", "LIVE-7", "--db", h.database])
            #expect(order.stdout.contains("Order LIVE-7"))
            #expect(order.stdout.contains("HTTP 200  success/000  cancelled"))
        }
    }

    @Test("a credential halt shows in status and --check; resume lets one request test the credentials")
    func haltStatusAndResume() async throws {
        try await DaemonHarness.withHarness(daemonKey: "WRONG-KEY-99") { h in
            try await h.migrate()
            try h.enqueue(["H-1"])
            let daemon = try h.startDaemon()
            #expect(await daemon.waitForOutput("SENDING HALTED", timeout: 10))
            let status = try await runCancelq(["status", "--db", h.database])
            #expect(status.stdout.contains("HALTED since"))
            #expect(status.stdout.contains("02130210"))
            let check = try await runCancelq(["status", "--check", "--db", h.database])
            #expect(check.status == 1)
            #expect(check.stdout.hasPrefix("ATTENTION - sending halted"))
            let json = try await runCancelq(["status", "--json", "--db", h.database])
            #expect(json.stdout.contains("\"mode\" : \"halted\""))
            daemon.signal(SIGTERM)
            #expect(await daemon.waitForExit(timeout: 10) == 0)
            let resume = try await runCancelq(["resume", "--db", h.database])
            #expect(resume.status == 0)
            #expect(resume.stdout.contains("halted (02130210): one request now tests the credentials"), "\(resume.output)")
            // Still halted until that one request is answered without a rejection.
            let testing = try await runCancelq(["status", "--db", h.database])
            #expect(testing.stdout.contains("HALTED since") && testing.stdout.contains("one request is testing the credentials"), "\(testing.output)")
            #expect(try await runCancelq(["resume", "--db", h.database]).stdout.contains("already under way"))
        }
    }

    @Test("a failed order is requeued by the operator and then succeeds; other states are refused")
    func requeueThenSuccess() async throws {
        try await DaemonHarness.withHarness { h in
            try await h.migrate()
            try h.enqueue(["LATE-PAY-1", "DONE-1"])
            h.state.markMissing("LATE-PAY-1")
            let first = try h.startDaemon(["--exit-when-idle", "--max-attempts", "1"])
            #expect(await first.waitForExit(timeout: 15) == 0)
            #expect(try h.jobs()["LATE-PAY-1"] == "failed/order-not-found")
            let check = try await runCancelq(["status", "--check", "--db", h.database])
            #expect(check.status == 1)
            #expect(check.stdout.contains("1 job(s) failed"))

            let refused = try await runCancelq(["requeue", "--db", h.database, "DONE-1"])
            #expect(refused.status == 1)
            #expect(refused.stderr.contains("refused DONE-1: it is succeeded"))
            let requeued = try await runCancelq(["requeue", "--db", h.database, "LATE-PAY-1"])
            #expect(requeued.status == 0, "\(requeued.output)")
            #expect(requeued.stdout.contains("requeued LATE-PAY-1 (was failed: order-not-found)"))

            h.state.forgetMissing("LATE-PAY-1")
            let second = try h.startDaemon(["--exit-when-idle"])
            #expect(await second.waitForExit(timeout: 15) == 0)
            #expect(try h.jobs()["LATE-PAY-1"] == "succeeded/cancelled")
            let timeline = try await runCancelq(["status", "--order", "LATE-PAY-1", "--db", h.database])
            #expect(timeline.stdout.contains("operator"))
            #expect(timeline.stdout.contains("requeue"))
            #expect(try h.attempts()["LATE-PAY-1"] == ["invalid/02180114", "success/000"])
        }
    }

    @Test("status of a missing database is a clear error (exit 2 for --check) and creates nothing")
    func missingDatabase() async throws {
        try await withTemporaryDirectory { dir in
            let plain = try await runCancelq(["status", "--db", dir + "/none.db"])
            #expect(plain.status == 1)
            #expect(plain.stderr.contains("no database at \(dir)/none.db"))
            let check = try await runCancelq(["status", "--check", "--db", dir + "/none.db"])
            #expect(check.status == 2)
            #expect(check.stdout.hasPrefix("UNKNOWN - cannot read the queue"))
            let requeue = try await runCancelq(["requeue", "--db", dir + "/none.db", "--all-failed"])
            #expect(requeue.status != 0)
            #expect(!FileManager.default.fileExists(atPath: dir + "/none.db"))
        }
    }
}
