import Foundation
import SQLite
import Testing
import TestSupport

/// Issue 18, point 10 through the binary: rows with control characters inserted by hand, then
/// every command's output checked for a raw one, on SQLite and PostgreSQL.
@Suite("No output prints a raw control character", .serialized, .timeLimit(.minutes(2)))
struct EscapedOutputCommandTests {
    static let forged = "  operator   2026-01-01 00:00:00 +00:00  approve by root: released 1000"
    let hostile = hostileText(forging: Self.forged)

    /// Runs each command line and checks stdout and stderr of every one.
    func checkOutputs(_ commands: [[String]], environment: [String: String] = [:]) async throws {
        for arguments in commands {
            let result = try await runCancelq(arguments, environment: environment)
            #expect(rawControls(in: result.output).isEmpty, "\(arguments.prefix(3)): \(rawControls(in: result.output)) in \(result.output)")
            #expect(!result.output.split(separator: "\n").contains { $0.hasPrefix("  operator   2026-01-01") }, "\(arguments): \(result.output)")
        }
    }

    func commands(_ db: String) -> [[String]] {
        [
            ["status", "--db", db], ["status", "--db", db, "--json"], ["status", "--db", db, "--check"],
            ["status", "--db", db, "--order", "W-1"], ["status", "--db", db, "--order", "W-1", "--json"],
            ["status", "--db", db, "--order", "F-1"], ["status", "--db", db, "--order", "F-1", "--json"],
            ["status", "--db", db, "--order", hostile],
            ["withdraw", "--db", db, "W-2", "--reason", hostile], ["withdraw", "--db", db, hostile, "W-1"],
            ["requeue", "--db", db, hostile], ["approve", "--db", db, "--yes"], ["resume", "--db", db],
            ["enqueue", "--db", db, hostile], ["status", "--db", db + hostile],
        ]
    }

    @Test("SQLite: reasons, operator names and gateway text with ESC, BEL, OSC, C1, DEL, bidi and newlines")
    func sqlite() async throws {
        try await withTemporaryDirectory { dir in
            let db = dir + "/queue.db"
            #expect(try await runCancelq(["migrate", "--db", db]).status == 0)
            let app = try Connection(path: db)
            for order in ["W-1", "W-2", "F-1"] { try app.run("INSERT INTO cancellations(order_number) VALUES (?)", order) }
            try app.run("INSERT INTO cancellation_withdrawals(order_number, reason) VALUES ('W-1', ?)", hostile)
            // The operator's name as `withdraw` records it (the unverified SUDO_USER hint, or the name itself).
            let withdrawn = try await runCancelq(["withdraw", "--db", db, "W-2", "--reason", hostile], environment: ["SUDO_USER": hostile])
            #expect(withdrawn.status == 0, "\(withdrawn.output)")
            try await checkOutputs(commands(db), environment: ["SUDO_USER": hostile])
            let timeline = try await runCancelq(["status", "--db", db, "--order", "W-1"])
            #expect(timeline.stdout.contains("reason: x\\u{1B}]0;owned\\u{7}"), "\(timeline.stdout)")
            // Escaped once, as everywhere: not \\u{1B} (a message escaped twice).
            let unknown = try await runCancelq(["status", "--db", db, "--order", "\u{1B}[31mX"])
            #expect(unknown.output.contains("no order \\u{1B}[31mX in"), "\(unknown.output)")
        }
    }

    @Test("PostgreSQL: the same, with the gateway's text in a failed job's attempts and a hand-made daemon row",
        .enabled(if: PostgresServer.shouldRun, "\(PostgresServer.skipNote)"))
    func postgres() async throws {
        let server = try PostgresServer.shared()
        let url = try server.createDatabase()
        defer { _ = try? server.psql("postgres", "DROP DATABASE IF EXISTS \(PostgresServer.databaseName(url)) WITH (FORCE)") }
        #expect(try await runCancelq(["migrate", "--db", url]).status == 0)
        // PostgreSQL's text holds no NUL; everything else goes in as is.
        let stored = hostile.replacingOccurrences(of: "\u{0}", with: "")
        let text = "convert_from(decode('\(Data(stored.utf8).map { String(format: "%02x", $0) }.joined())', 'hex'), 'UTF8')"
        try server.psql(
            url: url,
            """
            INSERT INTO cancellations(order_number) VALUES ('W-1'), ('W-2'), ('F-1');
            INSERT INTO cancellation_withdrawals(order_number, reason) VALUES ('W-1', \(text));
            UPDATE cancellations SET state = 'failed', outcome = 'gave-up', attempt_count = 1, request_count = 1,
                last_status = \(text), last_code = \(text), last_error = \(text) WHERE order_number = 'F-1';
            INSERT INTO cancellation_attempts(cancellation_id, attempt, started_at, completed_at, http_status, result_status, result_code, error, counted)
                SELECT id, 1, cancelq_now(), cancelq_now(), 200, \(text), \(text), \(text), true FROM cancellations WHERE order_number = 'F-1';
            INSERT INTO operator_actions(at, action, cancellation_id, detail, operator)
                SELECT cancelq_now(), \(text), id, \(text), \(text) FROM cancellations WHERE order_number = 'W-1';
            INSERT INTO cancelq_daemons(node, host, pid, started_at, heartbeat_at, lease_seconds)
                VALUES (\(text), \(text), 1, 'NaN', cancelq_now(), 40);
            """)
        try await checkOutputs(commands(url), environment: ["SUDO_USER": hostile])
    }
}
