import Foundation
import GatewaySimulator
import SQLite
import Testing
import TestSupport

/// The gateway vanishes from the network for 20 s (its connections end, new ones time out: SYNs
/// dropped), the database stays reachable. No request leaves meanwhile, so none may be recorded as
/// sent or counted; once it is back, sending resumes within seconds, not after each job's retry
/// backoff (30 s, 60 s, …), which had kept the queue waiting for over 40 s.
@Suite("a gateway cut off from the network", .serialized)
struct GatewayOutageTests {
    @Test("a 20 s cut: nothing counted, one probe at a time, every job sent within seconds of the gateway's return")
    func sendingResumesSoonAfterAnOutage() async throws {
        try await DaemonHarness.withHarness { h in
            try await h.migrate()
            let upstream = Int(h.simulator.endpoint.split(separator: ":").last!.split(separator: "/").first!)!
            let proxy = try PartitionProxy(upstreamPort: upstream)
            defer { proxy.stop() }
            let endpoint = h.simulator.endpoint.replacingOccurrences(of: ":\(upstream)/", with: ":\(proxy.port)/")
            var arguments = h.runArguments(["--concurrency", "4", "--request-timeout", "1.5"], endpoint: endpoint)
            // The standard retry schedule, as in production: a counted failure waits 24-30 s.
            arguments[arguments.firstIndex(of: "--retry-base")! + 1] = "30"
            arguments[arguments.firstIndex(of: "--retry-max")! + 1] = "1800"
            let daemon = try RunningProcess(arguments, directory: h.directory)
            defer { daemon.signal(SIGKILL) }
            try h.enqueue(["OUT-0"])
            #expect(try await h.waitForFinalStates(1, timeout: 10), "\(daemon.output.suffix(2000))")

            proxy.cut()
            let orders = (1...8).map { "OUT-\($0)" }
            try h.enqueue(orders)
            #expect(await daemon.waitForOutput("the gateway cannot be reached", timeout: 10), "\(daemon.output.suffix(3000))")
            let status = try await runCancelq(["status", "--db", h.database])
            #expect(status.stdout.contains("WAITING: the gateway cannot be reached"), "\(status.output)")
            try await Task.sleep(for: .seconds(18))
            let duringCut = try h.attempts().filter { $0.key != "OUT-0" }.values.flatMap { $0 }
            // One probe at a time, every 5 s at most: a handful of rows, each saying nothing left.
            #expect(duringCut.count <= 12, "\(duringCut.count) attempts during the cut: \(duringCut)")
            #expect(duringCut.allSatisfy { $0.hasPrefix("error: not sent: the gateway could not be reached") }, "\(duringCut)")
            #expect(h.state.requests.count == 1, "only OUT-0 reached the gateway")

            proxy.restore()
            let restored = ContinuousClock.now
            #expect(try await h.waitForFinalStates(orders.count + 1, timeout: 15), "\(daemon.output.suffix(3000))")
            let took = ContinuousClock.now - restored
            #expect(took < .seconds(8), "sending resumed \(took) after the gateway's return")
            #expect(try h.reader().queryOne("SELECT sum(attempt_count) FROM cancellations") { $0.int(0) } == 0, "a failure was counted")
            #expect(h.state.requests.count == orders.count + 1, "each order exactly once")
            daemon.signal(SIGTERM)
            #expect(await daemon.waitForExit(timeout: 10) == 0)
        }
    }
}
