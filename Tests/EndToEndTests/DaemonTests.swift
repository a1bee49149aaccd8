import Foundation
import GatewaySimulator
import SQLite
import Testing
import TestSupport

/// `cancelq run` as a process against the simulator: the scenarios of SPEC.md end to end.
@Suite("cancelq run end to end", .timeLimit(.minutes(1)))
struct DaemonTests {
    @Test("success on the first try: one request, one attempt row, succeeded")
    func successFirstTry() async throws {
        try await DaemonHarness.withHarness { h in
            try await h.migrate()
            try h.enqueue(["ORDER-1"])
            let daemon = try h.startDaemon(["--exit-when-idle"])
            #expect(await daemon.waitForExit(timeout: 15) == 0, "\(daemon.output)")
            #expect(try h.jobs() == ["ORDER-1": "succeeded/cancelled"])
            #expect(try h.attempts() == ["ORDER-1": ["success/000"]])
            #expect(h.state.requests.count == 1)
            #expect(daemon.output.contains("order ORDER-1: attempt 1: success/000"))
        }
    }

    @Test("failure twice, then success: three attempts, two counted")
    func failureTwiceThenSuccess() async throws {
        try await DaemonHarness.withHarness { h in
            try await h.migrate()
            try h.enqueue(["ORDER-2"])
            h.state.addFault(.answer(status: "failure", code: "02189999"), times: 2, order: "ORDER-2")
            let daemon = try h.startDaemon(["--exit-when-idle"])
            #expect(await daemon.waitForExit(timeout: 15) == 0, "\(daemon.output)")
            #expect(try h.jobs() == ["ORDER-2": "succeeded/cancelled"])
            #expect(try h.attempts()["ORDER-2"] == ["failure/02189999", "failure/02189999", "success/000"])
            #expect(try h.reader().queryOne("SELECT attempt_count FROM cancellations") { $0.int(0) } == 2)
        }
    }

    @Test("lost answer: timeout, resend, 02180118, succeeded as already cancelled with two attempt rows")
    func lostAnswer() async throws {
        try await DaemonHarness.withHarness { h in
            try await h.migrate()
            try h.enqueue(["ORDER-3"])
            h.state.addFault(.hang, order: "ORDER-3")
            let daemon = try h.startDaemon(["--exit-when-idle", "--request-timeout", "1"])
            #expect(await daemon.waitForExit(timeout: 15) == 0, "\(daemon.output)")
            #expect(try h.jobs() == ["ORDER-3": "succeeded/already-cancelled"])
            #expect(try h.attempts()["ORDER-3"] == ["error: no answer before the request timeout", "invalid/02180118"])
            #expect(h.state.requests.map(\.cancelled) == [true, false], "the first request did cancel")
        }
    }

    @Test("order never found: failed as order-not-found after the attempt limit")
    func orderNeverFound() async throws {
        try await DaemonHarness.withHarness { h in
            try await h.migrate()
            try h.enqueue(["GHOST-1"])
            h.state.markMissing("GHOST-1")
            let daemon = try h.startDaemon(["--exit-when-idle", "--max-attempts", "3"])
            #expect(await daemon.waitForExit(timeout: 15) == 0, "\(daemon.output)")
            #expect(try h.jobs() == ["GHOST-1": "failed/order-not-found"])
            #expect(try h.attempts()["GHOST-1"] == Array(repeating: "invalid/02180114", count: 3))
            #expect(h.state.requests.count == 3)
        }
    }

    @Test("maintenance: no request while paused except one probe per pause; all resume after")
    func maintenancePauseAndProbe() async throws {
        try await DaemonHarness.withHarness { h in
            try await h.migrate()
            try h.enqueue(["M-1", "M-2", "M-3"])
            h.state.setMaintenance(true)
            let daemon = try h.startDaemon(["--exit-when-idle", "--maintenance-pause", "1", "--concurrency", "1"])
            #expect(await eventually(timeout: 10) { h.state.requests.count >= 2 })
            h.state.setMaintenance(false)
            #expect(await daemon.waitForExit(timeout: 15) == 0, "\(daemon.output)")
            #expect(try h.jobs() == ["M-1": "succeeded/cancelled", "M-2": "succeeded/cancelled", "M-3": "succeeded/cancelled"])
            let during = h.state.requests.filter { $0.answer.hasPrefix("maintenance") }
            #expect(during.count >= 2)
            for (earlier, later) in zip(during, during.dropFirst()) {
                #expect(later.at - earlier.at >= 0.9, "a request went out during the pause: \(during)")
            }
            #expect(try h.reader().queryOne("SELECT sum(attempt_count) FROM cancellations") { $0.int(0) } == 0,
                    "maintenance answers must not count")
            #expect(try h.reader().queryOne("SELECT mode FROM sending_gate") { $0.string(0) } == "open")
            #expect(daemon.output.contains("sending resumed"))
        }
    }

    @Test("wrong key: sending halts after one request, no job consumed, the halt is recorded")
    func wrongKeyHalts() async throws {
        try await DaemonHarness.withHarness(daemonKey: "WRONG-KEY-99") { h in
            try await h.migrate()
            try h.enqueue(["K-1", "K-2", "K-3"])
            let daemon = try h.startDaemon(["--concurrency", "1"])
            #expect(await daemon.waitForOutput("SENDING HALTED", timeout: 10), "\(daemon.output)")
            try await Task.sleep(nanoseconds: 1_000_000_000)
            #expect(h.state.requests.count == 1, "every job would fail the same way: only one request")
            #expect(try h.reader().queryOne("SELECT mode || ' ' || code FROM sending_gate") { $0.string(0) } == "halted 02130210")
            #expect(try h.reader().queryOne("SELECT sum(attempt_count) FROM cancellations") { $0.int(0) } == 0)
            #expect(try h.jobs().values.allSatisfy { $0.hasPrefix("waiting-delay") })
            daemon.signal(SIGTERM)
            #expect(await daemon.waitForExit(timeout: 10) == 0)
            #expect(!daemon.output.contains("WRONG-KEY-99"))
        }
    }

    @Test("a fresh payment is not sent before paid_at + delay")
    func freshPaymentWaits() async throws {
        try await DaemonHarness.withHarness { h in
            try await h.migrate()
            let paidAt = Date().timeIntervalSince1970
            try h.enqueue(["FRESH-1"], paidAgo: 0)
            let daemon = try h.startDaemon(["--exit-when-idle", "--delay", "5"])
            try await Task.sleep(nanoseconds: 3_500_000_000)
            #expect(h.state.requests.isEmpty, "sent before the delay")
            #expect(await daemon.waitForExit(timeout: 10) == 0)
            let sentAt = try #require(try h.reader().queryOne("SELECT started_at FROM cancellation_attempts") { $0.double(0) })
            let paid = try #require(try h.reader().queryOne("SELECT paid_at FROM cancellations") { $0.double(0) })
            #expect(sentAt >= paid + 5)
            #expect(abs(paid - paidAt) < 1)
        }
    }

    @Test("SIGTERM: exit 0, in-flight requests finish and are recorded, nothing left sent")
    func sigtermIsClean() async throws {
        try await DaemonHarness.withHarness(latency: 0.8) { h in
            try await h.migrate()
            try h.enqueue((1...6).map { "TERM-\($0)" })
            let daemon = try h.startDaemon()
            #expect(await daemon.waitForOutput("attempt 1 sent", timeout: 10))
            daemon.signal(SIGTERM)
            #expect(await daemon.waitForExit(timeout: 10) == 0, "\(daemon.output)")
            let reader = try h.reader()
            #expect(try reader.queryOne("SELECT count(*) FROM cancellations WHERE state = 'sent'") { $0.int(0) } == 0)
            #expect(try reader.queryOne("SELECT count(*) FROM cancellation_attempts WHERE completed_at IS NULL") { $0.int(0) } == 0)
            let answered = h.state.requests.count
            #expect(try reader.queryOne("SELECT count(*) FROM cancellation_attempts") { $0.int(0) } == answered)
        }
    }

    @Test("SIGTERM while the answer trickles in: exit 0 within the request timeout, recorded as a timeout, nothing left sent")
    func sigtermDuringTrickle() async throws {
        try await DaemonHarness.withHarness { h in
            try await h.migrate()
            try h.enqueue(["TRICKLE-1"])
            // Head at once, then a byte every 0.5 s: about 95 s for the whole answer.
            h.state.addFault(.trickle(0.5), order: "TRICKLE-1")
            let daemon = try h.startDaemon(["--request-timeout", "2"])
            #expect(await eventually(timeout: 10) { !h.state.requests.isEmpty }, "\(daemon.output)")
            daemon.signal(SIGTERM)
            let signalled = ContinuousClock.now
            #expect(await daemon.waitForExit(timeout: 20) == 0, "\(daemon.output)")
            let elapsed = ContinuousClock.now - signalled
            #expect(elapsed < .seconds(5), "exited \(elapsed) after SIGTERM with --request-timeout 2")
            let reader = try h.reader()
            #expect(try reader.queryOne("SELECT count(*) FROM cancellations WHERE state = 'sent'") { $0.int(0) } == 0)
            #expect(try reader.queryOne("SELECT count(*) FROM cancellation_attempts WHERE completed_at IS NULL") { $0.int(0) } == 0)
            #expect(try h.attempts() == ["TRICKLE-1": ["error: no answer before the request timeout"]])
            let jobs = try h.jobs()
            #expect(jobs["TRICKLE-1"]?.hasPrefix("retrying/") == true, "\(jobs)")
        }
    }

    @Test("a second daemon on the same database is refused, naming the database and the holder's pid")
    func secondDaemonRefused() async throws {
        try await DaemonHarness.withHarness { h in
            try await h.migrate()
            let first = try h.startDaemon()
            #expect(await first.waitForOutput("cancelq started", timeout: 10))
            let second = try await runCancelq(h.runArguments())
            #expect(second.status != 0)
            #expect(second.stderr.contains("another cancelq run (pid \(first.pid)) is already working on \(h.database)"))
            first.signal(SIGTERM)
            #expect(await first.waitForExit(timeout: 10) == 0)
        }
    }

    @Test("SIGKILL mid-flight, then restart: every job finishes, every request seen has an attempt row")
    func sigkillThenRestart() async throws {
        try await DaemonHarness.withHarness(latency: 0.3) { h in
            try await h.migrate()
            let orders = (1...12).map { "KILL-\($0)" }
            try h.enqueue(orders)
            h.state.addFault(.hang, times: 2, order: nil)
            let first = try h.startDaemon(["--request-timeout", "1"])
            // Kill only once requests are provably in flight: rows in `sent`.
            let inFlight = try await eventually(timeout: 10) {
                try h.reader().queryOne("SELECT count(*) FROM cancellations WHERE state = 'sent'") { $0.int(0) } ?? 0 > 0
            }
            #expect(inFlight, "\(first.output)")
            first.signal(SIGKILL)
            _ = await first.waitForExit(timeout: 5)
            let stuck = try h.reader().queryOne("SELECT count(*) FROM cancellations WHERE state = 'sent'") { $0.int(0) } ?? 0
            #expect(stuck > 0, "the kill should have caught requests in flight")

            let second = try h.startDaemon(["--exit-when-idle", "--request-timeout", "1"])
            #expect(await second.waitForExit(timeout: 20) == 0, "\(second.output)")
            #expect(second.output.contains("outcome unknown"))
            let jobs = try h.jobs()
            #expect(jobs.count == orders.count)
            #expect(jobs.values.allSatisfy { $0.hasPrefix("succeeded/") }, "\(jobs)")
            let attempts = try h.attempts()
            for order in orders {
                let seen = h.state.requests.filter { $0.orderNumber == order }.count
                #expect(seen <= attempts[order, default: []].count, "\(order): \(seen) requests, rows \(attempts[order] ?? [])")
                // Nothing is sent after an answered success.
                if let success = attempts[order]?.firstIndex(of: "success/000") {
                    #expect(success == attempts[order]!.count - 1, "\(order) sent again after success: \(attempts[order]!)")
                }
            }
            #expect(try h.reader().queryOne("PRAGMA integrity_check") { $0.string(0) } == "ok")
        }
    }

    @Test("the key appears in no log line and no database row")
    func keyNeverLeaks() async throws {
        try await DaemonHarness.withHarness { h in
            try await h.migrate()
            try h.enqueue(["LEAK-1", "LEAK-2"])
            h.state.addFault(.answer(status: "failure", code: "02189999"), order: "LEAK-1")
            h.state.addFault(.garbage, order: "LEAK-2")
            let daemon = try h.startDaemon(["--exit-when-idle", "--log-level", "trace"])
            #expect(await daemon.waitForExit(timeout: 15) == 0)
            #expect(!daemon.output.contains(DaemonHarness.key))
            let dump = try h.reader().query(
                """
                SELECT coalesce(last_status,'') || coalesce(last_code,'') || coalesce(last_error,'') FROM cancellations
                UNION ALL SELECT coalesce(error,'') || coalesce(result_code,'') FROM cancellation_attempts
                UNION ALL SELECT coalesce(reason,'') FROM sending_gate
                """
            ) { $0.string(0) }.joined()
            #expect(!dump.contains(DaemonHarness.key))
            let raw = try String(decoding: Data(contentsOf: URL(fileURLWithPath: h.database)), as: UTF8.self)
            #expect(!raw.contains(DaemonHarness.key))
        }
    }
}
