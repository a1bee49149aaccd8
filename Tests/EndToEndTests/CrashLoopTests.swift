import Foundation
import GatewaySimulator
import SQLite
import Testing
import TestSupport

/// Issue 6: the daemon killed at random moments, again and again, loses nothing.
@Suite("Crash loop", .timeLimit(.minutes(2)))
struct CrashLoopTests {
    @Test("SIGKILL at random moments 6 times over a mixed backlog: nothing lost, nothing resent after success")
    func crashLoop() async throws {
        try await DaemonHarness.withHarness(latency: 0.02) { h in
            try await h.migrate()
            var random = SeededGenerator(seed: 20_261_127)
            let orders = (1...60).map { "CRASH-\($0)" }
            try h.enqueue(orders)
            // A mixed backlog: refusals, slow answers, lost answers, cut connections, garbage, unknown orders.
            for (index, order) in orders.enumerated() {
                switch index % 6 {
                case 0: h.state.addFault(.answer(status: "failure", code: "02189999"), times: 2, order: order)
                case 1: h.state.addFault(.delay(0.4), order: order)
                case 2: h.state.addFault(.hang, order: order)
                case 3: h.state.addFault(.cut, order: order)
                case 4: h.state.addFault(.garbage, order: order)
                default: break
                }
            }
            let arguments = ["--request-timeout", "0.6", "--concurrency", "8", "--max-attempts", "20", "--log-level", "warning"]
            var kills = 0
            while kills < 6 {
                let daemon = try h.startDaemon(arguments)
                // A random moment once it is working (start-up time varies with the machine's load).
                try await eventually(timeout: 15) {
                    try h.reader().queryOne(
                        "SELECT count(*) FILTER (WHERE state = 'sent'), count(*) FILTER (WHERE state NOT IN ('succeeded', 'failed')) FROM cancellations"
                    ) { $0.int(0) > 0 || $0.int(1) == 0 } ?? false
                }
                let lifetime = Double.random(in: 0...0.4, using: &random)
                try await Task.sleep(nanoseconds: UInt64(lifetime * 1e9))
                daemon.signal(SIGKILL)
                _ = await daemon.waitForExit(timeout: 5)
                kills += 1
            }
            let last = try h.startDaemon(arguments + ["--exit-when-idle"])
            #expect(await last.waitForExit(timeout: 60) == 0, "\(last.output)")

            let reader = try h.reader()
            // No job lost, every job final and where SPEC.md says: all these orders exist, so all succeed.
            let jobs = try h.jobs()
            #expect(jobs.count == orders.count)
            #expect(jobs.values.allSatisfy { $0 == "succeeded/cancelled" || $0 == "succeeded/already-cancelled" }, "\(jobs)")
            // Every request the simulator received has an attempt row.
            let attempts = try h.attempts()
            for order in orders {
                let seen = h.state.requests.filter { $0.orderNumber == order }.count
                #expect(seen <= attempts[order, default: []].count, "\(order): \(seen) requests, \(attempts[order] ?? [])")
                // No order is sent again after an answered success, and each was cancelled exactly once.
                let rows = attempts[order, default: []]
                if let success = rows.firstIndex(where: { $0 == "success/000" || $0 == "invalid/02180118" }) {
                    #expect(success == rows.count - 1, "\(order) sent again after success: \(rows)")
                }
                #expect(h.state.isCancelled(order))
            }
            #expect(try reader.queryOne("SELECT count(*) FROM cancellation_attempts WHERE completed_at IS NULL") { $0.int(0) } == 0)
            let interrupted = try reader.queryOne(
                "SELECT count(*) FROM cancellation_attempts WHERE error = 'outcome unknown after restart'"
            ) { $0.int(0) } ?? 0
            #expect(interrupted > 0, "no kill caught a request in flight: the loop proved nothing")
            #expect(try reader.queryOne("PRAGMA integrity_check") { $0.string(0) } == "ok")
            let counts = try reader.query("SELECT state, jobs FROM cancellation_state_counts WHERE jobs <> 0") { "\($0.string(0))=\($0.int(1))" }
            #expect(counts == ["succeeded=\(orders.count)"], "trigger-kept counts drifted: \(counts)")
        }
    }
}
