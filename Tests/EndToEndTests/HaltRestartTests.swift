import Foundation
import GatewaySimulator
import Testing
import TestSupport

/// A stored credential halt survives a restart: a starting daemon sends ONE request to test the
/// credentials and reopens only when the gateway does not reject them again. A crash loop with a
/// wrong key costs one request per start, not `--concurrency`.
@Suite("a credential halt across restarts", .serialized)
struct HaltRestartTests {
    @Test("restarted with the same wrong key: one request, still halted; restarted with the right key: one test, then every job")
    func haltSurvivesRestart() async throws {
        try await DaemonHarness.withHarness(daemonKey: "WRONG-KEY-99") { h in
            try await h.migrate()
            try h.enqueue((1...6).map { "HR-\($0)" })
            let first = try h.startDaemon(["--concurrency", "4"])
            #expect(await first.waitForOutput("SENDING HALTED", timeout: 10), "\(first.output)")
            first.signal(SIGKILL)
            _ = await first.waitForExit(timeout: 10)
            let afterFirst = h.state.requests.count
            #expect(afterFirst >= 1)

            // A crash restart with the key still wrong: exactly one more request, halted again.
            let second = try h.startDaemon(["--concurrency", "4"])
            #expect(await second.waitForOutput("one request tests the credentials first", timeout: 10), "\(second.output)")
            #expect(await second.waitForOutput("SENDING HALTED", timeout: 10), "\(second.output)")
            try await Task.sleep(for: .seconds(1))
            #expect(h.state.requests.count == afterFirst + 1, "a restart with the wrong key sent \(h.state.requests.count - afterFirst) requests")
            #expect(try h.reader().queryOne("SELECT mode || ' ' || code || ' ' || (paused_until IS NULL) FROM sending_gate") { $0.string(0) } == "halted 02130210 1")
            second.signal(SIGTERM)
            #expect(await second.waitForExit(timeout: 10) == 0, "\(second.output.suffix(2000))")

            // The key fixed: the test request is answered, sending resumes for every job.
            try Data((DaemonHarness.key + "\n").utf8).write(to: URL(fileURLWithPath: h.keyFile))
            let third = try h.startDaemon(["--concurrency", "4", "--exit-when-idle"])
            #expect(await third.waitForExit(timeout: 20) == 0, "\(third.output.suffix(3000))")
            #expect(third.output.contains("one request tests the credentials first"))
            let jobs = try h.jobs()
            #expect(jobs.values.allSatisfy { $0 == "succeeded/cancelled" }, "\(jobs)")
            #expect(try h.reader().queryOne("SELECT mode FROM sending_gate") { $0.string(0) } == "open")
        }
    }
}
