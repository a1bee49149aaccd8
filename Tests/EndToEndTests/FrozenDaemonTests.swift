import Foundation
import GatewaySimulator
import Testing
import TestSupport

/// Issue 18's first hole, end to end: daemon A's request has reached the gateway when A is stopped
/// (SIGSTOP: a VM pause, a stall) past its lease; daemon B rescues the job; the application then
/// withdraws it. The withdrawal must be refused (the rescued request's outcome is unknown: it may
/// have cancelled the order), and when A resumes nothing is sent a third time.
@Suite("a daemon frozen past its lease", .serialized, .enabled(if: PostgresServer.shouldRun, "\(PostgresServer.skipNote)"))
struct FrozenDaemonTests {
    @Test("a job rescued from a stopped daemon cannot be withdrawn; it ends as the gateway says, with no third request")
    func rescuedJobIsNotWithdrawn() async throws {
        let server = try PostgresServer.shared()
        let url = try server.createDatabase()
        try await DaemonHarness.withHarness(latency: 2) { h in
            #expect(try await runCancelq(["migrate", "--db", url]).status == 0)
            func daemon(_ node: String, _ extra: [String]) throws -> RunningProcess {
                var arguments = h.runArguments(["--node-name", node, "--request-timeout", "5"] + extra)
                arguments[arguments.firstIndex(of: "--db")! + 1] = url
                return try RunningProcess(arguments, directory: h.directory)
            }
            func psql(_ sql: String) throws -> String { try server.psql(url: url, sql) }
            let frozen = try daemon("frozen", ["--concurrency", "1"])
            defer {
                frozen.signal(SIGCONT)
                frozen.signal(SIGKILL)
            }
            #expect(await eventually(timeout: 10) { frozen.output.contains("cancelq started") }, "\(frozen.output.suffix(2000))")
            try psql("INSERT INTO cancellations(order_number, paid_at) VALUES ('FRZ-1', extract(epoch FROM now()) - 60), ('FRZ-2', extract(epoch FROM now()) - 60)")
            // FRZ-1's request has reached the gateway (which cancels it); its answer is 2 s away.
            #expect(await eventually(timeout: 10) { h.state.requests.contains { $0.orderNumber == "FRZ-1" } })
            frozen.signal(SIGSTOP)

            // B holds sending (two jobs enqueued, above its limit of one): what it rescues stays
            // between attempts, where a withdrawal would have been accepted before issue 18.
            let rescuer = try daemon("rescuer", ["--hold-above", "1"])
            defer { rescuer.signal(SIGKILL) }
            let rescued = await eventually(timeout: 40) {
                (try? psql("SELECT state FROM cancellations WHERE order_number = 'FRZ-1'")) == "retrying"
            }
            #expect(rescued, "\(rescuer.output.suffix(3000))")
            let withdrawal = try runProgram(
                PostgresServer.binDirectory! + "/psql",
                [url, "-v", "ON_ERROR_STOP=1", "-c", "INSERT INTO cancellation_withdrawals(order_number, reason) VALUES ('FRZ-1', 'too late?')"])
            #expect(withdrawal.status != 0 && withdrawal.output.contains("withdrawal_too_late_outcome_unknown"), "\(withdrawal.output)")
            // The job B never sent can still be taken back.
            try psql("INSERT INTO cancellation_withdrawals(order_number, reason) VALUES ('FRZ-2', 'queued by mistake')")

            let approved = try await runCancelq(["approve", "--db", url, "--yes"])
            #expect(approved.status == 0, "\(approved.output)")
            let ended = await eventually(timeout: 20) {
                (try? psql("SELECT state || ' ' || outcome FROM cancellations WHERE order_number = 'FRZ-1'")) == "succeeded already-cancelled"
            }
            #expect(ended, "\(rescuer.output.suffix(3000))")

            frozen.signal(SIGCONT)
            try await Task.sleep(for: .seconds(4))
            #expect(h.state.requests.filter { $0.orderNumber == "FRZ-1" }.count == 2, "the frozen daemon's request and the rescuer's, no more")
            #expect(!h.state.requests.contains { $0.orderNumber == "FRZ-2" })
            #expect(try psql("SELECT state FROM cancellations WHERE order_number = 'FRZ-2'") == "withdrawn")
            for process in [frozen, rescuer] { process.signal(SIGTERM) }
            for process in [frozen, rescuer] { _ = await process.waitForExit(timeout: 15) }
        }
    }
}
