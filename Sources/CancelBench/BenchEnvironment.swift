import CancelQueue
import CancelStore
import Foundation
import GatewaySimulator
import SQLite

/// A temporary directory with a simulator, a key and a database, and a way to start `cancelq run`.
final class BenchEnvironment {
    static let clientIP = "12345"
    static let key = "bench-key"

    let directory: String
    let simulator: GatewaySimulator
    var database: String { directory + "/queue.db" }
    var keyFile: String { directory + "/zeus-key" }
    var daemonLog: String { directory + "/daemon.log" }

    private init(directory: String, simulator: GatewaySimulator) {
        self.directory = directory
        self.simulator = simulator
    }

    private static func make(latency: Double) async throws -> BenchEnvironment {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cancelq-bench-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let simulator = try await GatewaySimulator.start(state: SimulatorState(clientIP: clientIP, key: key, latency: latency))
        let environment = BenchEnvironment(directory: directory, simulator: simulator)
        _ = FileManager.default.createFile(atPath: environment.keyFile, contents: Data((key + "\n").utf8), attributes: [.posixPermissions: 0o600])
        _ = try CancelStore.open(path: environment.database, create: true)
        return environment
    }

    /// Runs `body` with a fresh environment, torn down afterwards even when `body` throws.
    static func with<T>(latency: Double, _ body: (BenchEnvironment) async throws -> T) async throws -> T {
        let environment = try await make(latency: latency)
        do {
            let result = try await body(environment)
            await environment.tearDown()
            return result
        } catch {
            await environment.tearDown()
            throw error
        }
    }

    func tearDown() async {
        await simulator.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Finished jobs with three attempts each, to show the cost per job does not grow with the table.
    func prefill(finished count: Int) throws {
        guard count > 0 else { return }
        let db = try Connection(path: database)
        // Attempt rows come from cancelq's connections only: the benchmark writes as cancelq.
        try CancelqWriterFunctions.define(on: db)
        try db.execute(
            """
            BEGIN IMMEDIATE;
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < \(count))
            INSERT INTO cancellations(order_number, paid_at) SELECT 'OLD-' || i, 1700000000 + i FROM n;
            -- Two refusals, then the confirmation (which the schema requires before `succeeded`).
            INSERT INTO cancellation_attempts(cancellation_id, attempt, started_at, completed_at, http_status,
                                              result_status, result_code, counted)
            SELECT c.id, a.k, c.created_at + a.k, c.created_at + a.k, 200,
                   CASE a.k WHEN 3 THEN 'success' ELSE 'failure' END, CASE a.k WHEN 3 THEN '000' ELSE '02189999' END, a.k < 3
            FROM cancellations c, (SELECT 1 AS k UNION ALL SELECT 2 UNION ALL SELECT 3) a WHERE c.order_number LIKE 'OLD-%';
            UPDATE cancellations SET state = 'succeeded', request_count = 3, attempt_count = 2, outcome = 'cancelled',
                last_status = 'success', last_code = '000', updated_at = paid_at WHERE order_number LIKE 'OLD-%';
            COMMIT;
            """)
    }

    /// Queues `count` jobs in one transaction, all due at once.
    func enqueue(_ count: Int, prefix: String, paidAt: Double) throws {
        let db = try Connection(path: database)
        try db.transaction {
            for index in 0..<count {
                try db.run("INSERT INTO cancellations(order_number, paid_at) VALUES (?, ?)", "\(prefix)\(index)", paidAt)
            }
        }
    }

    func startDaemon(
        concurrency: Int, exitWhenIdle: Bool, endpoint: String? = nil, metrics: Bool = false, database: String? = nil,
        extra: [String] = [], log logPath: String? = nil
    ) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Measurements.ownExecutable())
        process.arguments = [
            "run", "--db", database ?? self.database, "--endpoint", endpoint ?? simulator.endpoint, "--client-ip", Self.clientIP,
            "--key-file", keyFile,
            // Benchmarks queue thousands at once on purpose: no surge hold.
            "--concurrency", String(concurrency), "--log-level", "notice", "--hold-above", "0",
        ] + (exitWhenIdle ? ["--exit-when-idle"] : []) + (metrics ? ["--metrics-listen", "127.0.0.1:0"] : []) + extra
        _ = FileManager.default.createFile(atPath: logPath ?? daemonLog, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath ?? daemonLog))
        process.standardOutput = log
        process.standardError = log
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: "NOTIFY_SOCKET")
        process.environment = environment
        try process.run()
        return process
    }

    /// The daemon's write transactions, from its closing log line.
    func daemonTransactions() -> Int? {
        guard let log = try? String(contentsOfFile: daemonLog, encoding: .utf8),
            let range = log.range(of: #"(\d+) write transactions"#, options: .regularExpression)
        else { return nil }
        return Int(log[range].split(separator: " ")[0])
    }

    /// Seconds from each job's due time (paid_at + delay, or its insert if later) to its first request.
    func dueToSent(prefix: String, delay: Double = 10) throws -> [Double] {
        let db = try Connection(path: database, options: .reader)
        return try db.query(
            """
            SELECT min(a.started_at) - max(c.paid_at + ?, c.created_at)
            FROM cancellations c JOIN cancellation_attempts a ON a.cancellation_id = c.id
            WHERE c.order_number LIKE ? GROUP BY c.id
            """, [delay, prefix + "%"]
        ) { $0.double(0) }
    }

    func unfinished() throws -> Int {
        let db = try Connection(path: database, options: .reader)
        return try db.queryOne(
            "SELECT sum(jobs) FROM cancellation_state_counts WHERE state NOT IN ('succeeded', 'failed', 'withdrawn')"
        ) { $0.int(0) } ?? 0
    }
}
