import Foundation
import GatewaySimulator
import Testing
import TestSupport

/// A daemon on a host whose wall clock is stepped while it runs, sharing a PostgreSQL queue: due
/// times are the server's, so a job leaves when the server's clock says it is due, neither early
/// (a clock ahead) nor late by the step (a clock put back). The step is made through the debug
/// builds' CANCELQ_DEBUG_CLOCK_SKEW_FILE, read at every look at the wall clock.
@Suite("a host clock that is wrong", .serialized, .enabled(if: PostgresServer.shouldRun, "\(PostgresServer.skipNote)"))
struct ClockSkewTests {
    @Test("a job due in 5 s by the server's clock leaves after 5 s when the daemon's clock is stepped 20 s back or an hour ahead",
        arguments: [-20.0, 3600.0])
    func jobLeavesOnTheServersClock(step: Double) async throws {
        let server = try PostgresServer.shared()
        let url = try server.createDatabase()
        try await DaemonHarness.withHarness { harness in
            let migrated = try await runCancelq(["migrate", "--db", url])
            #expect(migrated.status == 0, "\(migrated.output)")
            let skewFile = harness.directory + "/clock-skew"
            try "0\n".write(toFile: skewFile, atomically: true, encoding: .utf8)
            var arguments = harness.runArguments(["--node-name", "skewed", "--delay", "5", "--poll-interval", "30"])
            arguments[arguments.firstIndex(of: "--db")! + 1] = url
            let daemon = try RunningProcess(
                arguments, environment: ["CANCELQ_DEBUG_CLOCK_SKEW_FILE": skewFile], directory: harness.directory)
            defer { daemon.signal(SIGKILL) }
            #expect(await eventually(timeout: 10) { daemon.output.contains("cancelq started") }, "\(daemon.output.suffix(2000))")
            // The host's clock is stepped after the daemon read the server's time.
            try await Task.sleep(for: .seconds(1))
            try "\(step)\n".write(toFile: skewFile, atomically: true, encoding: .utf8)

            try server.psql(url: url, "INSERT INTO cancellations(order_number, paid_at) VALUES ('SKEW-1', extract(epoch FROM now()))")
            let inserted = SimulatorState.uptime()
            let sent = await eventually(timeout: 15) { harness.state.requests.contains { $0.orderNumber == "SKEW-1" } }
            #expect(sent, "not sent within 15 s: \(daemon.output.suffix(3000))")
            let leftAfter = (harness.state.requests.first { $0.orderNumber == "SKEW-1" }?.at ?? .infinity) - inserted
            #expect(leftAfter >= 4.9, "sent \(leftAfter) s after the insert: before the server's due time")
            #expect(leftAfter < 6.5, "sent \(leftAfter) s after the insert: late by the host's clock")
            daemon.signal(SIGTERM)
            _ = await daemon.waitForExit(timeout: 10)
        }
    }
}
