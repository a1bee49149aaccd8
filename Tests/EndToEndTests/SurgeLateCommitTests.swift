import Foundation
import GatewaySimulator
import SQLite
import Testing
import TestSupport

/// The outside attack on the surge hold: one transaction inserts more jobs than `--hold-above` and
/// commits after `--hold-window` has passed. By insert time none of them falls in the window; the
/// running daemon, which found them at once, holds sending all the same.
@Suite("a surge committed after the window", .serialized)
struct SurgeLateCommitTests {
    static let holdArguments = ["--hold-above", "5", "--hold-window", "10", "--delay", "5"]

    @Test("SQLite: 20 jobs inserted in a transaction held open 11 s are held, not sent")
    func sqliteLateCommitHolds() async throws {
        try await DaemonHarness.withHarness { h in
            try await h.migrate()
            let daemon = try h.startDaemon(Self.holdArguments)
            defer { daemon.signal(SIGKILL) }
            #expect(await daemon.waitForOutput("cancelq started", timeout: 10))
            let application = try Connection(path: h.database)
            try application.execute("BEGIN IMMEDIATE")
            for index in 1...20 {
                try application.run("INSERT INTO cancellations(order_number, paid_at) VALUES (?, ?)", "LATE-\(index)", Date().timeIntervalSince1970 - 60)
            }
            try await Task.sleep(for: .seconds(11))
            try application.execute("COMMIT")
            #expect(await daemon.waitForOutput("SENDING HELD", timeout: 10), "\(daemon.output.suffix(3000))")
            try await Task.sleep(for: .seconds(1))
            #expect(h.state.requests.isEmpty, "\(h.state.requests.count) sent despite the surge")
            daemon.signal(SIGTERM)
            _ = await daemon.waitForExit(timeout: 10)
        }
    }

    @Test("PostgreSQL: the same with a transaction held open by pg_sleep", .enabled(if: PostgresServer.shouldRun, "\(PostgresServer.skipNote)"))
    func postgresLateCommitHolds() async throws {
        let server = try PostgresServer.shared()
        let url = try server.createDatabase()
        try await DaemonHarness.withHarness { h in
            #expect(try await runCancelq(["migrate", "--db", url]).status == 0)
            var arguments = h.runArguments(["--node-name", "surge"] + Self.holdArguments)
            arguments[arguments.firstIndex(of: "--db")! + 1] = url
            let daemon = try RunningProcess(arguments, directory: h.directory)
            defer { daemon.signal(SIGKILL) }
            #expect(await daemon.waitForOutput("cancelq started", timeout: 10))
            let values = (1...20).map { "('LATE-\($0)', extract(epoch FROM now()) - 60)" }.joined(separator: ", ")
            try server.psql(url: url, "BEGIN; INSERT INTO cancellations(order_number, paid_at) VALUES \(values); SELECT pg_sleep(11); COMMIT;")
            #expect(await daemon.waitForOutput("SENDING HELD", timeout: 10), "\(daemon.output.suffix(3000))")
            try await Task.sleep(for: .seconds(1))
            #expect(h.state.requests.isEmpty, "\(h.state.requests.count) sent despite the surge")
            daemon.signal(SIGTERM)
            _ = await daemon.waitForExit(timeout: 10)
        }
    }
}
