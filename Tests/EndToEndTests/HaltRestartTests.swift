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

    @Test("PostgreSQL: restarting one daemon of a halted cluster sends one request, not a reopening for all",
        .enabled(if: PostgresServer.shouldRun, "\(PostgresServer.skipNote)"))
    func clusterHaltSurvivesARestart() async throws {
        let server = try PostgresServer.shared()
        let url = try server.createDatabase()
        try await DaemonHarness.withHarness(daemonKey: "WRONG-KEY-99") { h in
            #expect(try await runCancelq(["migrate", "--db", url]).status == 0)
            func daemon(_ node: String) throws -> RunningProcess {
                var arguments = h.runArguments(["--node-name", node, "--concurrency", "4"])
                arguments[arguments.firstIndex(of: "--db")! + 1] = url
                return try RunningProcess(arguments, directory: h.directory)
            }
            let values = (1...8).map { "('HRC-\($0)', extract(epoch FROM now()) - 60)" }.joined(separator: ", ")
            try server.psql(url: url, "INSERT INTO cancellations(order_number, paid_at) VALUES \(values)")
            let first = try daemon("one")
            let second = try daemon("two")
            defer { for process in [first, second] { process.signal(SIGKILL) } }
            let haltedCluster = await eventually(timeout: 15) { (try? server.psql(url: url, "SELECT mode FROM sending_gate")) == "halted" }
            #expect(haltedCluster, "\(first.output.suffix(2000))")
            try await Task.sleep(for: .seconds(2))
            let halted = h.state.requests.count
            // A crash restart of one daemon, the key still wrong: one test request for the cluster.
            second.signal(SIGKILL)
            _ = await second.waitForExit(timeout: 10)
            let restarted = try daemon("two")
            defer { restarted.signal(SIGKILL) }
            #expect(await restarted.waitForOutput("one request tests the credentials first", timeout: 15), "\(restarted.output.suffix(2000))")
            try await Task.sleep(for: .seconds(3))
            #expect(h.state.requests.count == halted + 1, "a restart in a halted cluster sent \(h.state.requests.count - halted) requests")
            #expect(try server.psql(url: url, "SELECT mode FROM sending_gate") == "halted")
            for process in [first, restarted] { process.signal(SIGTERM) }
            for process in [first, restarted] { _ = await process.waitForExit(timeout: 10) }
        }
    }
}
