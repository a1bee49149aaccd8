import Foundation
import GatewaySimulator
import Testing
import TestSupport

/// `cancelq run` processes sharing one PostgreSQL queue against the simulator, as a merchant with
/// several hosts runs them: killed, restarted under, inserted into from several processes.
@Suite("PostgreSQL end to end", .serialized, .enabled(if: PostgresServer.shouldRun, "\(PostgresServer.skipNote)"))
struct PostgresDaemonTests {
    /// A fresh database migrated by `cancelq migrate`, the simulator, a key file.
    struct Rig {
        let server: PostgresServer
        let url: String
        let harness: DaemonHarness

        @discardableResult
        func psql(_ sql: String) throws -> String { try server.psql(url: url, sql) }

        func startDaemon(_ node: String, _ extra: [String] = []) throws -> RunningProcess {
            var arguments = harness.runArguments(["--node-name", node, "--concurrency", "4"] + extra)
            arguments[arguments.firstIndex(of: "--db")! + 1] = url
            return try RunningProcess(arguments, directory: harness.directory)
        }

        func enqueue(_ orders: [String]) throws {
            let values = orders.map { "('\($0)', extract(epoch from now()) - 60)" }.joined(separator: ", ")
            try psql("INSERT INTO cancellations(order_number, paid_at) VALUES \(values)")
        }

        func finished() throws -> Int { Int(try psql("SELECT count(*) FROM cancellations WHERE state IN ('succeeded', 'failed')")) ?? -1 }

        /// Requests the simulator received per order.
        var requestsPerOrder: [String: Int] {
            Dictionary(grouping: harness.state.requests.compactMap(\.orderNumber), by: { $0 }).mapValues(\.count)
        }
    }

    static func withRig<T>(latency: Double = 0, _ body: (Rig) async throws -> T) async throws -> T {
        let server = try PostgresServer.shared()
        let url = try server.createDatabase()
        return try await DaemonHarness.withHarness(latency: latency) { harness in
            let migrated = try await runCancelq(["migrate", "--db", url])
            #expect(migrated.status == 0, "\(migrated.output)")
            return try await body(Rig(server: server, url: url, harness: harness))
        }
    }

    @Test("three daemons, one killed mid-backlog: every order ends where it must, only the killed one's lost answers are sent again")
    func threeDaemonsOneKilled() async throws {
        try await Self.withRig(latency: 0.05) { rig in
            let orders = (1...240).map { "K-\($0)" }
            try rig.enqueue(orders)
            let daemons = try ["d1", "d2", "d3"].map { try rig.startDaemon($0) }
            #expect(await eventually(timeout: 20) { (try? rig.finished()) ?? 0 >= 60 }, "the daemons did not start draining")
            let status = try await runCancelq(["status", "--db", rig.url, "--json"])
            #expect(["d1", "d2", "d3"].allSatisfy { status.stdout.contains("\"name\" : \"\($0)\"") }, "\(status.output)")
            daemons[1].signal(SIGKILL)
            _ = await daemons[1].waitForExit(timeout: 5)
            // The survivors finish the backlog and, once d2's lease ran out, its jobs in flight.
            let drained = await eventually(timeout: 60) { (try? rig.finished()) == orders.count }
            #expect(drained, "\((try? rig.psql("SELECT state, owner, count(*) FROM cancellations GROUP BY 1, 2")) ?? "")")
            for daemon in [daemons[0], daemons[2]] { daemon.signal(SIGTERM) }
            for daemon in [daemons[0], daemons[2]] { #expect(await daemon.waitForExit(timeout: 10) == 0, "\(daemon.output.suffix(2000))") }

            #expect(try rig.psql("SELECT count(*) FROM cancellations WHERE state <> 'succeeded'") == "0")
            let requests = rig.requestsPerOrder
            #expect(Set(requests.keys) == Set(orders), "every order reached the gateway")
            let repeated = requests.filter { $0.value > 1 }.keys.sorted()
            // A repeat is only for a job d2 had in flight: rescued, then answered "already cancelled".
            let rescued = try rig.psql(
                "SELECT DISTINCT c.order_number FROM cancellation_attempts a JOIN cancellations c ON c.id = a.cancellation_id WHERE a.error LIKE 'outcome unknown: its daemon d2 %' ORDER BY 1"
            ).split(separator: "\n").map(String.init)
            #expect(Set(repeated).isSubset(of: Set(rescued)), "sent twice without a rescue: \(Set(repeated).subtracting(rescued))")
            #expect(!rescued.isEmpty && rescued.count <= 4, "d2 was killed with requests in flight, at most its concurrency")
            for order in repeated {
                #expect(try rig.psql("SELECT outcome FROM cancellations WHERE order_number = '\(order)'") == "already-cancelled")
            }
            // Every request has its audit row; a killed daemon's claim may have no request (never left).
            let attemptRows = Int(try rig.psql("SELECT count(*) FROM cancellation_attempts")) ?? 0
            let sent = requests.values.reduce(0, +)
            #expect(attemptRows >= sent && attemptRows - sent <= 4, "\(attemptRows) attempt rows for \(sent) requests")
            // Never in flight twice: each attempt starts after the previous one of its job ended.
            #expect(
                try rig.psql(
                    """
                    SELECT count(*) FROM cancellation_attempts a JOIN cancellation_attempts b
                    ON a.cancellation_id = b.cancellation_id AND b.attempt = a.attempt + 1
                    WHERE b.started_at < a.completed_at - 0.001
                    """) == "0")
        }
    }

    @Test("PostgreSQL restarted under a running daemon: answers are kept in memory and committed once it is back")
    func databaseRestart() async throws {
        try await Self.withRig(latency: 0.3) { rig in
            let orders = (1...60).map { "R-\($0)" }
            try rig.enqueue(orders)
            let daemon = try rig.startDaemon("solo")
            #expect(await eventually(timeout: 20) { (try? rig.finished()) ?? 0 >= 4 })
            // A fast shutdown (connections told "shutting down"), then a crash of the server.
            rig.server.stop(fast: true)
            try await Task.sleep(nanoseconds: 1_000_000_000)
            try rig.server.start()
            #expect(await eventually(timeout: 20) { (try? rig.finished()) ?? 0 >= 16 })
            rig.server.stop()
            try await Task.sleep(nanoseconds: 1_500_000_000)
            try rig.server.start()
            #expect(await eventually(timeout: 60) { (try? rig.finished()) == orders.count }, "\(daemon.output.suffix(3000))")
            daemon.signal(SIGTERM)
            #expect(await daemon.waitForExit(timeout: 10) == 0, "\(daemon.output.suffix(2000))")
            #expect(daemon.output.contains("cannot reach the database"), "the outage was logged")
            // Nothing lost, nothing sent twice: one request and one completed attempt row per order.
            #expect(rig.requestsPerOrder.values.allSatisfy { $0 == 1 } && rig.requestsPerOrder.count == orders.count, "\(rig.requestsPerOrder.filter { $0.value != 1 })")
            #expect(try rig.psql("SELECT count(*) FROM cancellation_attempts WHERE completed_at IS NOT NULL AND result_code = '000'") == "\(orders.count)")
            #expect(try rig.psql("SELECT count(*) FROM cancellations WHERE outcome = 'cancelled'") == "\(orders.count)")
        }
    }

    @Test("applications insert from several processes while two daemons drain: each order sent exactly once")
    func concurrentApplicationInserts() async throws {
        try await Self.withRig { rig in
            let daemons = try ["a1", "a2"].map { try rig.startDaemon($0) }
            let writers = try (1...4).map { writer in
                let statements = (1...50).map { "INSERT INTO cancellations(order_number, paid_at) VALUES ('W\(writer)-\($0)', extract(epoch from now()) - 60);" }
                let script = rig.harness.directory + "/writer-\(writer).sql"
                try statements.joined(separator: "\n").write(toFile: script, atomically: true, encoding: .utf8)
                let process = Process()
                process.executableURL = URL(fileURLWithPath: PostgresServer.binDirectory! + "/psql")
                process.arguments = ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", "\(rig.server.port)", "-U", "postgres",
                                     "-d", PostgresServer.databaseName(rig.url), "-f", script]
                process.standardOutput = FileHandle.nullDevice
                try process.run()
                return process
            }
            for writer in writers {
                writer.waitUntilExit()
                #expect(writer.terminationStatus == 0)
            }
            #expect(await eventually(timeout: 30) { (try? rig.finished()) == 200 })
            for daemon in daemons { daemon.signal(SIGTERM) }
            for daemon in daemons { #expect(await daemon.waitForExit(timeout: 10) == 0) }
            #expect(rig.requestsPerOrder.count == 200 && rig.requestsPerOrder.values.allSatisfy { $0 == 1 })
            #expect(try rig.psql("SELECT count(DISTINCT owner) FROM cancellations") == "0", "no job is left owned")
            #expect(Int(try rig.psql("SELECT count(DISTINCT node) FROM cancellation_attempts")) == 2, "both daemons sent")
        }
    }

    @Test("the password comes from a file, the credential db-password or PGPASSWORD, and is never shown")
    func passwordSources() async throws {
        let server = try PostgresServer.shared()
        let url = try server.createDatabase()
        let database = PostgresServer.databaseName(url)
        let withRole = server.url(database: database, user: PostgresServer.passwordRole)
        try await withTemporaryDirectory { directory in
            let file = directory + "/db-password"
            try (PostgresServer.password + "\n").write(toFile: file, atomically: true, encoding: .utf8)
            let fromFile = try await runCancelq(["migrate", "--db", withRole, "--db-password-file", file])
            #expect(fromFile.status == 0, "\(fromFile.output)")
            let fromCredential = try await runCancelq(["enqueue", "--db", withRole, "PW-1"], environment: ["CREDENTIALS_DIRECTORY": directory])
            #expect(fromCredential.status == 0, "\(fromCredential.output)")
            let fromEnvironment = try await runCancelq(["status", "--db", withRole], environment: ["PGPASSWORD": PostgresServer.password])
            #expect(fromEnvironment.status == 0 && fromEnvironment.stdout.contains("pending 1"), "\(fromEnvironment.output)")
            for wrong in [
                try await runCancelq(["status", "--db", withRole], environment: ["PGPASSWORD": "wrong-\(PostgresServer.password)"]),
                try await runCancelq(["status", "--db", withRole.replacingOccurrences(of: "@", with: ":inline-\(PostgresServer.password)@")]),
            ] {
                #expect(wrong.status != 0)
                #expect(wrong.output.contains("refused the login"), "\(wrong.output)")
                #expect(!wrong.output.contains(PostgresServer.password), "the password leaked: \(wrong.output)")
            }
            let missing = try await runCancelq(["status", "--db", withRole, "--db-password-file", directory + "/nope"])
            #expect(missing.status != 0 && missing.output.contains("password file \(directory)/nope does not exist"))
        }
        try server.psql("postgres", "DROP DATABASE \(database) WITH (FORCE)")
    }

    @Test("a SQLite queue moves to PostgreSQL with its whole audit trail; a busy source or a non-empty target is refused")
    func copyToPostgres() async throws {
        try await DaemonHarness.withHarness { harness in
            try await harness.migrate()
            try harness.enqueue(["M-1", "M-2", "M-3"])
            harness.state.addFault(.answer(status: "failure", code: "02189999"), times: 100, order: "M-3")
            let drained = try await runCancelq(harness.runArguments(["--exit-when-idle", "--max-attempts", "2"]), timeout: 30)
            #expect(drained.status == 0, "\(drained.output)")
            #expect(try await runCancelq(["requeue", "--db", harness.database, "M-3"]).status == 0)
            let server = try PostgresServer.shared()
            let url = try server.createDatabase()
            #expect(try await runCancelq(["migrate", "--db", url]).status == 0)

            let busy = try harness.startDaemon()
            #expect(await busy.waitForOutput("cancelq started", timeout: 10))
            let refused = try await runCancelq(["copy-to-postgresql", "--from", harness.database, "--db", url])
            #expect(refused.status != 0 && refused.output.contains("stop `cancelq run` on it first"), "\(refused.output)")
            // A mistyped path: said so, and no empty file is left behind.
            let missing = harness.directory + "/no-such-queue.db"
            let absent = try await runCancelq(["copy-to-postgresql", "--from", missing, "--db", url])
            #expect(absent.status != 0 && absent.output.contains("no-such-queue.db") && !absent.output.contains("schema"), "\(absent.output)")
            #expect(!FileManager.default.fileExists(atPath: missing))
            busy.signal(SIGTERM)
            _ = await busy.waitForExit(timeout: 10)

            let copied = try await runCancelq(["copy-to-postgresql", "--from", harness.database, "--db", url])
            #expect(copied.status == 0, "\(copied.output)")
            let sqlite = try harness.reader()
            for table in ["cancellations", "cancellation_attempts", "operator_actions"] {
                let expected = try sqlite.queryOne("SELECT count(*) FROM \(table)") { $0.int(0) } ?? -1
                #expect(try server.psql(url: url, "SELECT count(*) FROM \(table)") == "\(expected)", "\(table)")
                #expect(copied.stdout.contains("copied \(expected) row(s) of \(table)"))
            }
            let attempts = try sqlite.query(
                "SELECT c.order_number || ':' || a.attempt || ':' || coalesce(a.result_code, '-') FROM cancellation_attempts a JOIN cancellations c ON c.id = a.cancellation_id ORDER BY a.id"
            ) { $0.string(0) }
            #expect(
                try server.psql(
                    url: url,
                    "SELECT c.order_number || ':' || a.attempt || ':' || coalesce(a.result_code, '-') FROM cancellation_attempts a JOIN cancellations c ON c.id = a.cancellation_id ORDER BY a.id"
                ) == attempts.joined(separator: "\n"))
            let states = try sqlite.query("SELECT state || '|' || count(*) FROM cancellations GROUP BY state ORDER BY state") { $0.string(0) }
            #expect(try server.psql(url: url, "SELECT state || '|' || count(*) FROM cancellations GROUP BY state ORDER BY state") == states.joined(separator: "\n"))
            // status reads the trigger-kept counts: they agree with the copied rows.
            let status = try await runCancelq(["status", "--db", url, "--json"])
            for line in states {
                let parts = line.split(separator: "|")
                #expect(status.stdout.contains("\"\(parts[0])\" : \(parts[1])"), "\(line): \(status.output)")
            }
            // An application's next insert gets a fresh id after the copied ones.
            try server.psql(url: url, "INSERT INTO cancellations(order_number) VALUES ('M-4')")
            #expect(try server.psql(url: url, "SELECT id FROM cancellations WHERE order_number = 'M-4'") == "4")

            let again = try await runCancelq(["copy-to-postgresql", "--from", harness.database, "--db", url])
            #expect(again.status != 0 && again.output.contains("is not empty"), "\(again.output)")
            try server.psql("postgres", "DROP DATABASE \(PostgresServer.databaseName(url)) WITH (FORCE)")
        }
    }
}
