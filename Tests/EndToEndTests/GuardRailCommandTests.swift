import Foundation
import SQLite
import Testing
import TestSupport

/// Issue 12 as a new user tries it: take a wrong order back, see a surge held and approved.
@Suite("cancelq withdraw and approve end to end", .timeLimit(.minutes(2)))
struct GuardRailCommandTests {
    @Test("an order taken back by the application never reaches the gateway; cancelq withdraw says per order why not")
    func withdrawNeverReachesTheGateway() async throws {
        try await DaemonHarness.withHarness { h in
            try await h.migrate()
            // Paid just now: the daemon waits the 5 s delay, time enough to notice the mistake.
            try h.enqueue(["WRONG-1", "WRONG-2", "RIGHT-1"], paidAgo: 0)
            try h.enqueue(["DONE-1"])
            let daemon = try h.startDaemon(["--delay", "5", "--exit-when-idle"])
            #expect(try await eventually(timeout: 10) { try h.jobs()["DONE-1"] == "succeeded/cancelled" })
            let app = try Connection(path: h.database)
            try app.run("INSERT INTO cancellation_withdrawals(order_number, reason) VALUES (?, ?)", "WRONG-1", "queued by mistake")
            do {
                try app.run("INSERT INTO cancellation_withdrawals(order_number, reason) VALUES (?, ?)", "DONE-1", "too late")
                Issue.record("a finished order was withdrawn")
            } catch {
                #expect("\(error)".contains("withdrawal_too_late_job_final"), "\(error)")
            }
            let operatorRun = try await runCancelq(
                ["withdraw", "--db", h.database, "WRONG-2", "DONE-1", "NO-SUCH-1", "--reason", "customer kept the goods"],
                environment: ["SUDO_USER": "alice"])
            #expect(operatorRun.status == 1, "\(operatorRun.output)")
            #expect(operatorRun.stdout.contains("withdrawn WRONG-2 (was waiting-delay); its request never leaves"))
            #expect(operatorRun.stderr.contains("not withdrawn DONE-1: too late: it is already final (succeeded)"))
            #expect(operatorRun.stderr.contains("not withdrawn NO-SUCH-1: no such order in the queue"))
            #expect(await daemon.waitForExit(timeout: 20) == 0, "\(daemon.output)")
            let seen = Set(h.state.requests.map(\.orderNumber))
            #expect(seen == ["DONE-1", "RIGHT-1"], "the simulator saw \(seen)")
            #expect(try h.jobs()["WRONG-1"] == "withdrawn/withdrawn" && h.jobs()["WRONG-2"] == "withdrawn/withdrawn")
            #expect(try h.attempts()["WRONG-1"] == nil)

            let timeline = try await runCancelq(["status", "--order", "WRONG-2", "--db", h.database])
            #expect(timeline.stdout.contains("withdrawn"))
            #expect(timeline.stdout.contains("reason: customer kept the goods"))
            // SUDO_USER is the environment's word, not who ran it (issue 18): never recorded as the operator.
            #expect(timeline.stdout.contains("was waiting-delay") && !timeline.stdout.contains("withdraw by alice"), "\(timeline.stdout)")
            let app1 = try await runCancelq(["status", "--order", "WRONG-1", "--db", h.database, "--json"])
            #expect(app1.stdout.contains("\"reason\" : \"queued by mistake\""), "\(app1.stdout)")
            let status = try await runCancelq(["status", "--db", h.database])
            #expect(status.stdout.contains("withdrawn 2"), "\(status.stdout)")
        }
    }

    @Test("2,000 orders at once: sending held before any leaves, status and --check say so, approve releases them all")
    func surgeHeldThenApproved() async throws {
        try await DaemonHarness.withHarness { h in
            try await h.migrate()
            let orders = (1...2000).map { "BULK-\($0)" }
            try h.enqueue(orders)
            let daemon = try h.startDaemon(["--concurrency", "16", "--exit-when-idle"])
            #expect(await daemon.waitForOutput("SENDING HELD", timeout: 15), "\(daemon.output)")
            try await Task.sleep(nanoseconds: 300_000_000)
            #expect(h.state.requests.isEmpty, "\(h.state.requests.count) requests left before the hold")

            let status = try await runCancelq(["status", "--db", h.database])
            #expect(status.stdout.contains("HELD since"), "\(status.stdout)")
            #expect(status.stdout.contains("over 1,000 enqueued within 1 h"), "\(status.stdout)")
            let check = try await runCancelq(["status", "--check", "--db", h.database])
            #expect(check.status == 1)
            #expect(check.stdout.hasPrefix("ATTENTION - sending held: more than 1000 jobs were enqueued within 1 h; 2000 job(s) wait"), "\(check.stdout)")
            let json = try await runCancelq(["status", "--json", "--db", h.database])
            let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
            let sending = try #require(object?["sending"] as? [String: Any])
            #expect(sending["mode"] as? String == "held")
            let hold = try #require(sending["hold"] as? [String: Any])
            #expect(hold["hold_above"] as? Int == 1000 && hold["window_seconds"] as? Double == 3600 && hold["enqueued"] as? Int == 1001)
            #expect(sending["waiting"] as? Int == 2000)

            // resume does not release a hold; approve needs a terminal or --yes.
            let resume = try await runCancelq(["resume", "--db", h.database])
            #expect(resume.status == 1 && resume.stderr.contains("cancelq approve"), "\(resume.output)")
            let noTerminal = try await runCancelq(["approve", "--db", h.database])
            #expect(noTerminal.status == 1)
            #expect(noTerminal.stderr.contains("releases 2,000 waiting job(s)"), "\(noTerminal.output)")
            #expect(noTerminal.stderr.contains("No terminal to confirm on"), "\(noTerminal.output)")
            // On a terminal, anything but yes keeps the hold.
            let declined = try runProgram(
                "/bin/sh", ["-c", "printf 'no\\n' | script -qec '\(cancelqExecutable()) approve --db \(h.database)' /dev/null"])
            #expect(declined.output.contains("Type yes to approve"), "\(declined.output)")
            #expect(declined.output.contains("not approved: sending stays held"), "\(declined.output)")
            try await Task.sleep(nanoseconds: 300_000_000)
            #expect(h.state.requests.isEmpty)

            let approved = try await runCancelq(["approve", "--db", h.database, "--yes"], environment: ["SUDO_USER": "bob"])
            #expect(approved.status == 0, "\(approved.output)")
            #expect(approved.stdout.contains("2,000 waiting job(s) released"), "\(approved.stdout)")
            #expect(await daemon.waitForExit(timeout: 90) == 0, "\(daemon.output.suffix(2000))")
            #expect(daemon.output.contains("the surge hold was released by `cancelq approve`"))
            #expect(try h.reader().queryOne("SELECT count(*) FROM cancellations WHERE state = 'succeeded'") { $0.int(0) } == 2000)
            #expect(h.state.requests.count == 2000)
            let approver = try h.reader().queryOne("SELECT operator FROM operator_actions WHERE action = 'approve'") { $0.optionalString(0) }
            #expect(approver != nil && approver != "bob", "SUDO_USER is never taken at its word: \(approver ?? "-")")
            let again = try await runCancelq(["approve", "--db", h.database, "--yes"])
            #expect(again.status == 1 && again.stderr.contains("sending is not held (it is open): nothing to approve"), "\(again.output)")
            let checkAfter = try await runCancelq(["status", "--check", "--db", h.database])
            #expect(checkAfter.status == 0, "\(checkAfter.output)")
        }
    }

    @Test("--hold-above and --hold-window are validated; 0 turns the hold off")
    func holdOptions() async throws {
        try await DaemonHarness.withHarness { h in
            try await h.migrate()
            for (arguments, message) in [
                (["--hold-above=-1"], "--hold-above must be a whole number from 0"),
                (["--hold-window", "0"], "--hold-window must be a number of seconds from 1"),
                (["--hold-window", "nan"], "--hold-window must be a number of seconds"),
            ] {
                let result = try await runCancelq(h.runArguments(arguments))
                #expect(result.status != 0 && result.stderr.contains(message), "\(arguments): \(result.output)")
            }
            let env = try await runCancelq(h.runArguments(), environment: ["CANCELQ_HOLD_ABOVE": "many"])
            #expect(env.status != 0 && env.stderr.contains("CANCELQ_HOLD_ABOVE=many is not a whole number"), "\(env.output)")
            try h.enqueue((1...30).map { "OFF-\($0)" })
            let off = try await runCancelq(h.runArguments(["--hold-above", "0", "--exit-when-idle"]), timeout: 30)
            #expect(off.status == 0 && off.stderr.contains("surge hold off"), "\(off.output)")
            #expect(h.state.requests.count == 30)
            try h.enqueue((1...30).map { "ON-\($0)" })
            let held = try h.startDaemon([], environment: ["CANCELQ_HOLD_ABOVE": "20", "CANCELQ_HOLD_WINDOW": "60"])
            #expect(await held.waitForOutput("SENDING HELD: more than 20 jobs enqueued within 1 min", timeout: 10), "\(held.output)")
            held.signal(SIGTERM)
            #expect(await held.waitForExit(timeout: 10) == 0)
            #expect(h.state.requests.count == 30)
        }
    }
}
