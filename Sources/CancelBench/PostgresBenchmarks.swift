import CancelCore
import CancelPostgres
import CancelQueue
import Foundation
import GatewaySimulator
import Logging

/// `cancelq bench postgres`: the drain with one or several daemons sharing a PostgreSQL queue, and
/// how soon an application's insert is picked up through LISTEN/NOTIFY. Prints numbers only.
/// The daemons send to the in-process simulator, or to `endpoint` (a gateway in another process,
/// bench/nginx-success.conf), for the drain and the pickup alike, as `drain` does.
extension Benchmarks {
    public static func postgres(
        url: String, location: PostgresLocation, jobs: Int, daemons: Int, concurrency: Int, pickups: Int, endpoint: String? = nil,
        out: (String) -> Void
    ) async throws {
        let queue = try await PostgresQueue.open(location: location, node: "bench", logger: Logger(label: "bench"))
        defer { Task { await queue.close() } }
        // A history of finished jobs may be there (bench/postgres-side-by-side.sh HISTORY=…): the
        // drain's figures must not depend on it. Anything unfinished, or an earlier run's orders, would.
        let counts = try await queue.sqlColumn(
            """
            SELECT count(*) FILTER (WHERE state IN \(State.unfinishedSQL) OR order_number LIKE 'PGB-%' OR order_number LIKE 'PGP-%')
                || ' ' || count(*) FROM cancellations
            """
        ).first.flatMap { $0 }?.split(separator: " ").compactMap { Int($0) } ?? []
        guard counts.count == 2, counts[0] == 0 else {
            out("bench postgres needs a migrated database with no unfinished job and no earlier bench run (\(counts.first ?? -1) such rows): create one and `cancelq migrate` it")
            return
        }
        let history = counts[1]
        try await BenchEnvironment.with(latency: 0) { environment in
            let gateway = endpoint.map { "gateway \($0) (another process)" } ?? "in-process simulator (0 ms)"
            out("postgres drain: \(jobs) jobs, \(daemons) daemon(s) at concurrency \(concurrency) each, \(gateway), \(location)")
            if history > 0 { out("  history           \(history) finished jobs already in the queue") }
            _ = try await queue.sqlColumn(
                "INSERT INTO cancellations(order_number, paid_at) SELECT 'PGB-' || i, extract(epoch FROM now()) - 60 FROM generate_series(1, \(jobs)) AS i")
            // The server's side of the drain only: the jobs' inserts above are before it.
            let server = await PostgresServerUsage.find(queue)
            let rowsBefore = try await server.rowsWritten()
            let serverBefore = server.cpuSeconds()
            let before = Measurements.childrenUsage()
            let started = Date()
            let processes = try (1...daemons).map { index in
                try environment.startDaemon(
                    concurrency: concurrency, exitWhenIdle: true, endpoint: endpoint, database: url, extra: ["--node-name", "bench-\(index)"],
                    log: environment.directory + "/daemon-\(index).log")
            }
            for process in processes { process.waitUntilExit() }
            let wall = Date().timeIntervalSince(started)
            let cpu = Measurements.childrenUsage().cpu - before.cpu
            let serverCPU = server.cpuSeconds().flatMap { after in serverBefore.map { after - $0 } }
            guard processes.allSatisfy({ $0.terminationStatus == 0 }) else {
                out("a daemon failed; logs in \(environment.directory)")
                return
            }
            let window = try await queue.sqlColumn(
                """
                SELECT max(a.completed_at) - min(a.started_at) FROM cancellation_attempts a JOIN cancellations c ON c.id = a.cancellation_id
                WHERE c.order_number LIKE 'PGB-%'
                """).first.flatMap { $0 }.flatMap(Double.init) ?? wall
            // Another process's requests are not seen here: then they are counted by the queue's attempts.
            let requests: Int
            let counted: String
            if endpoint == nil {
                requests = environment.simulator.state.requests.count
                counted = "counted by the simulator"
            } else {
                requests = try await queue.sqlColumn(
                    """
                    SELECT count(*) FROM cancellation_attempts a JOIN cancellations c ON c.id = a.cancellation_id
                    WHERE c.order_number LIKE 'PGB-%'
                    """
                ).first.flatMap { $0 }.flatMap { Int($0) } ?? -1
                counted = "counted by the queue's attempts"
            }
            out(String(format: "  throughput        %.0f jobs/s (first request to last answer: %.2f s; processes %.2f s)", Double(jobs) / window, window, wall))
            out(String(format: "  CPU per job       %.1f µs (daemons together: %.2f s user+system)", cpu / Double(jobs) * 1e6, cpu))
            PostgresServerUsage.report(cpu: serverCPU, rows: try await server.rowsWritten() - rowsBefore, jobs: jobs, out: out)
            out("  requests          \(requests) for \(jobs) orders (\(requests == jobs ? "none twice" : "\(requests - jobs) repeated"); \(counted))")

            // Pickup: one idle daemon, inserts one at a time, already due: insert → request leaves.
            let daemon = try environment.startDaemon(
                concurrency: concurrency, exitWhenIdle: false, endpoint: endpoint, database: url, extra: ["--node-name", "bench-idle"],
                log: environment.directory + "/daemon-idle.log")
            defer { daemon.terminate(); daemon.waitUntilExit() }
            try await Task.sleep(nanoseconds: 1_000_000_000)
            for index in 0..<pickups {
                _ = try await queue.sqlColumn(
                    "INSERT INTO cancellations(order_number, paid_at) VALUES ('PGP-\(index)', extract(epoch FROM now()) - 60)")
                try await Task.sleep(nanoseconds: 50_000_000)
            }
            try await Task.sleep(nanoseconds: 1_000_000_000)
            let latencies = try await queue.sqlColumn(
                """
                SELECT a.started_at - c.created_at FROM cancellations c JOIN cancellation_attempts a ON a.cancellation_id = c.id
                WHERE c.order_number LIKE 'PGP-%' AND a.attempt = 1
                """
            ).compactMap { $0.flatMap(Double.init) }
            out("  insert→sent       p50 \(Measurements.milliseconds(Measurements.percentile(latencies, 50))), p99 \(Measurements.milliseconds(Measurements.percentile(latencies, 99))) over \(latencies.count) inserts one by one (LISTEN/NOTIFY wake-up; sent to \(endpoint == nil ? "the in-process simulator" : "the gateway above"))")
        }
    }
}
