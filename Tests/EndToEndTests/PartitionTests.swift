import Foundation
import GatewaySimulator
import Testing
import TestSupport

/// A daemon cut from PostgreSQL right after its claim's COMMIT reached the server: the commit
/// landed, its answer never came. Another daemon rescues the job once the first one's lease is over
/// and gets the gateway's answer; when the link heals, the first one learns (by its commit token)
/// that its claim landed, long after the claim's send deadline: it must not send.
@Suite("network partition at a claim's commit", .serialized, .enabled(if: PostgresServer.shouldRun, "\(PostgresServer.skipNote)"))
struct PartitionTests {
    @Test("a claim whose COMMIT answer was lost is never sent once the link heals past its deadline, after another daemon's rescue")
    func lostCommitAnswerIsNotSentLate() async throws {
        let server = try PostgresServer.shared()
        let url = try server.createDatabase()
        let proxy = try PartitionProxy(upstreamPort: server.port)
        defer { proxy.stop() }
        try await DaemonHarness.withHarness { harness in
            let migrated = try await runCancelq(["migrate", "--db", url])
            #expect(migrated.status == 0, "\(migrated.output)")
            let throughProxy = url.replacingOccurrences(of: ":\(server.port)/", with: ":\(proxy.port)/")
            func daemon(_ node: String, db: String) throws -> RunningProcess {
                var arguments = harness.runArguments(["--node-name", node, "--delay", "5", "--log-level", "debug"])
                arguments[arguments.firstIndex(of: "--db")! + 1] = db
                return try RunningProcess(arguments, directory: harness.directory)
            }
            let cut = try daemon("cut", db: throughProxy)
            defer { cut.signal(SIGKILL) }
            #expect(await eventually(timeout: 10) { cut.output.contains("cancelq started") }, "\(cut.output.suffix(2000))")

            try server.psql(url: url, "INSERT INTO cancellations(order_number, paid_at) VALUES ('PART-1', extract(epoch FROM now()))")
            // Discovered (due in 5 s): the claim's write, then its COMMIT, whose answer is lost.
            #expect(await eventually(timeout: 5) { (try? server.psql(url: url, "SELECT state FROM cancellations")) == "waiting-delay" })
            // The claim is the next write of a job: its attempt row is in the turn's statement.
            proxy.arm(dropAnswerAfter: "COMMIT", once: "INSERT INTO cancellation_attempts")
            #expect(await eventually(timeout: 10) { (try? server.psql(url: url, "SELECT state || ' ' || owner FROM cancellations")) == "sent cut" },
                "the claim's commit did not land")
            #expect(proxy.partitionedAt != nil)

            let rescuer = try daemon("rescuer", db: url)
            defer { rescuer.signal(SIGKILL) }
            // The cut daemon's lease (request timeout 2 s + 10 s) runs out; the rescuer sends and is answered.
            let rescued = await eventually(timeout: 40) {
                (try? server.psql(url: url, "SELECT state FROM cancellations")) == "succeeded"
            }
            #expect(rescued, "\(rescuer.output.suffix(3000))")
            #expect(harness.state.requests.filter { $0.orderNumber == "PART-1" }.count == 1)

            proxy.heal()
            // The cut daemon reconnects, finds its commit landed, and must not send the stale claim.
            let resolved = await eventually(timeout: 20) { cut.output.contains("not sent; its claim was confirmed") }
            #expect(resolved, "\(cut.output.suffix(4000))")
            #expect(!cut.output.contains("PART-1: attempt 1 sent"), "the journal said sent for a claim that never left")
            try await Task.sleep(for: .seconds(1))
            #expect(harness.state.requests.filter { $0.orderNumber == "PART-1" }.count == 1, "the stale claim was sent after the rescue")
            #expect(try server.psql(url: url, "SELECT state || ' ' || outcome FROM cancellations") == "succeeded cancelled")
            let attempts = try server.psql(
                url: url, "SELECT coalesce(result_code, '-') || ' ' || coalesce(error, '-') FROM cancellation_attempts ORDER BY id")
            #expect(attempts.contains("000 -"), "\(attempts)")

            for process in [cut, rescuer] { process.signal(SIGTERM) }
            for process in [cut, rescuer] { _ = await process.waitForExit(timeout: 15) }
        }
    }
}
