import Foundation
import GatewaySimulator
import SQLite
import TestSupport

/// A temporary directory with a simulator in-process, a key file and a database, and the
/// `cancelq run` arguments that point at them with test-speed timings.
struct DaemonHarness {
    static let clientIP = "12345"
    static let key = "SECRET-KEY-42"

    let directory: String
    let simulator: GatewaySimulator
    var database: String { directory + "/queue.db" }
    var keyFile: String { directory + "/zeus-key" }
    var state: SimulatorState { simulator.state }

    static func withHarness<T>(
        daemonKey: String = key, latency: Double = 0, tls: SimulatorTLS? = nil, _ body: (DaemonHarness) async throws -> T
    ) async throws -> T {
        try await withTemporaryDirectory { directory in
            let state = SimulatorState(clientIP: clientIP, key: key, latency: latency)
            let simulator = try await GatewaySimulator.start(state: state, tls: tls)
            // Stopped exactly once: a second stop schedules on a shut-down event loop (NIO logs an ERROR).
            let result: T
            do {
                try Data((daemonKey + "\n").utf8).write(to: URL(fileURLWithPath: directory + "/zeus-key"))
                chmod(directory + "/zeus-key", 0o600)
                result = try await body(DaemonHarness(directory: directory, simulator: simulator))
            } catch {
                await simulator.stop()
                throw error
            }
            await simulator.stop()
            return result
        }
    }

    /// `cancelq run` against the simulator (or `endpoint`), fast retries, plus `extra`.
    func runArguments(_ extra: [String] = [], endpoint: String? = nil) -> [String] {
        [
            "run", "--db", database, "--endpoint", endpoint ?? simulator.endpoint, "--client-ip", Self.clientIP,
            "--key-file", keyFile, "--retry-base", "0.2", "--retry-max", "1", "--request-timeout", "2",
            "--poll-interval", "0.2",
        ] + extra
    }

    func startDaemon(_ extra: [String] = [], endpoint: String? = nil, environment: [String: String] = [:]) throws
        -> RunningProcess
    {
        try RunningProcess(runArguments(extra, endpoint: endpoint), environment: environment, directory: directory)
    }

    /// Inserts as an application would, with `paid_at` in the past so no delay is waited.
    func enqueue(_ orders: [String], paidAgo: Double = 60) throws {
        let db = try Connection(path: database)
        try db.transaction {
            for order in orders {
                try db.run(
                    "INSERT INTO cancellations(order_number, paid_at) VALUES (?, ?)", order, Date().timeIntervalSince1970 - paidAgo)
            }
        }
    }

    func migrate() async throws {
        let result = try await runCancelq(["migrate", "--db", database])
        guard result.status == 0 else { throw TestFailure("migrate failed: \(result.output)") }
    }

    func reader() throws -> Connection { try Connection(path: database, options: .reader) }

    /// order → state/outcome
    func jobs() throws -> [String: String] {
        let rows = try reader().query("SELECT order_number, state, coalesce(outcome, '-') FROM cancellations") {
            ($0.string(0), "\($0.string(1))/\($0.string(2))")
        }
        return Dictionary(uniqueKeysWithValues: rows)
    }

    /// order → attempt rows as "status/code" or "error: …", in attempt order.
    func attempts() throws -> [String: [String]] {
        let rows = try reader().query(
            """
            SELECT c.order_number, coalesce(a.result_status || '/' || a.result_code, 'error: ' || a.error, 'open')
            FROM cancellation_attempts a JOIN cancellations c ON c.id = a.cancellation_id ORDER BY a.id
            """
        ) { ($0.string(0), $0.string(1)) }
        return Dictionary(grouping: rows, by: \.0).mapValues { $0.map(\.1) }
    }

    func waitForFinalStates(_ count: Int, timeout: Double = 15) async throws -> Bool {
        try await eventually(timeout: timeout) {
            try reader().queryOne("SELECT count(*) FROM cancellations WHERE state IN ('succeeded', 'failed')") {
                $0.int(0)
            } == count
        }
    }
}

