import CancelBench
import Foundation
import SQLite
import Testing
import TestSupport

@Suite("Graceful shutdown")
struct ShutdownTests {
    @Test("while waiting for in-flight requests after SIGTERM the daemon sleeps, it does not spin")
    func noSpinWhileDraining() async throws {
        try await DaemonHarness.withHarness(latency: 0) { h in
            try await h.migrate()
            try h.enqueue(["SLOW-1"])
            h.state.addFault(.delay(6), order: "SLOW-1")  // far past the 2 s measured, even on a loaded machine
            let daemon = try h.startDaemon(["--request-timeout", "10"])
            #expect(await daemon.waitForOutput("attempt 1 sent", timeout: 10))
            daemon.signal(SIGTERM)
            try await Task.sleep(nanoseconds: 500_000_000)
            let before = Measurements.cpuSeconds(pid: daemon.pid)
            try await Task.sleep(nanoseconds: 1_500_000_000)
            let used = Measurements.cpuSeconds(pid: daemon.pid) - before
            #expect(used < 0.3, "used \(used) s of CPU in 1.5 s while waiting for one request")
            #expect(await daemon.waitForExit(timeout: 10) == 0, "\(daemon.output)")
            #expect(try h.jobs() == ["SLOW-1": "succeeded/cancelled"])
        }
    }

}

@Suite("A writer holding the lock")
struct LongWriterTests {
    @Test("an application holding the write lock past the busy timeout delays the daemon; nothing is lost or resent")
    func daemonWaitsOutALongWriter() async throws {
        try await DaemonHarness.withHarness(latency: 1) { h in
            try await h.migrate()
            try h.enqueue(["HOLD-1", "HOLD-2"])
            let daemon = try h.startDaemon(["--exit-when-idle"])
            #expect(await daemon.waitForOutput("attempt 1 sent", timeout: 10))
            // The answers come back while this connection holds the lock for 7 s (busy timeout 5 s).
            let blocker = try Connection(path: h.database)
            try blocker.execute("BEGIN IMMEDIATE")
            try await Task.sleep(nanoseconds: 7_000_000_000)
            try blocker.execute("COMMIT")
            #expect(await daemon.waitForExit(timeout: 20) == 0, "\(daemon.output)")
            #expect(daemon.output.contains("retrying"))
            #expect(try h.jobs() == ["HOLD-1": "succeeded/cancelled", "HOLD-2": "succeeded/cancelled"])
            #expect(try h.attempts() == ["HOLD-1": ["success/000"], "HOLD-2": ["success/000"]], "resent after a lock?")
            #expect(h.state.requests.count == 2)
        }
    }
}
