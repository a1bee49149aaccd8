import Foundation
import SQLite
import Testing
import TestSupport

/// Issue 18, points 6 and 7, through the binary: an application cannot forge a success, and the
/// operator recorded is who the kernel says ran the command, not what SUDO_USER claims.
@Suite("No bypass: forged success and forged operator, end to end", .timeLimit(.minutes(1)))
struct NoBypassCommandTests {
    @Test("an application's forged success/000 row is refused: the daemon sends the order and records the gateway's own answer")
    func forgedSuccessRefused() async throws {
        try await DaemonHarness.withHarness { h in
            try await h.migrate()
            try h.enqueue(["FORGE-1"])
            let forged = try runProgram(
                "/usr/bin/sqlite3",
                [
                    h.database,
                    """
                    INSERT INTO cancellation_attempts(cancellation_id, attempt, started_at, completed_at, http_status, result_status, result_code, counted)
                    SELECT id, 1, 1, 2, 200, 'success', '000', 1 FROM cancellations WHERE order_number = 'FORGE-1';
                    """,
                ])
            #expect(forged.status != 0 && forged.output.contains("no such function: attempt_rows_are_written_by_cancelq_only"), "\(forged.output)")
            let action = try runProgram(
                "/usr/bin/sqlite3", [h.database, "INSERT INTO operator_actions(at, action, detail, operator) VALUES (1, 'resume', '', 'alice');"])
            #expect(action.status != 0 && action.output.contains("no such function: operator_actions_are_written_by_cancelq_only"), "\(action.output)")
            let daemon = try h.startDaemon(["--exit-when-idle", "--delay", "5"])
            #expect(await daemon.waitForExit(timeout: 20) == 0, "\(daemon.output)")
            #expect(h.state.requests.map(\.orderNumber) == ["FORGE-1"], "the gateway saw the request")
            #expect(try h.jobs()["FORGE-1"] == "succeeded/cancelled")
            #expect(try h.attempts()["FORGE-1"] == ["success/000"])
            #expect(try h.reader().queryOne("SELECT count(*) FROM operator_actions") { $0.int(0) } == 0)
        }
    }

    @Test("`env SUDO_USER=root cancelq withdraw` run by another user records that user, never root")
    func sudoUserIsNotTakenAtItsWord() async throws {
        try await DaemonHarness.withHarness { h in
            try await h.migrate()
            try h.enqueue(["WHO-1"], paidAgo: 0)
            let asRoot = getuid() == 0
            if asRoot {
                // The attack as written: `runuser -u nobody -- env SUDO_USER=root cancelq withdraw …`.
                chmod(h.directory, 0o777)
                for file in ["", "-wal", "-shm"] { chmod(h.database + file, 0o666) }
            }
            let command = [cancelqExecutable(), "withdraw", "--db", h.database, "WHO-1"]
            let run =
                asRoot
                ? try runProgram("/usr/sbin/runuser", ["-u", "nobody", "--", "/usr/bin/env", "SUDO_USER=root"] + command)
                : try runProgram("/usr/bin/env", ["SUDO_USER=root"] + command)
            #expect(run.status == 0, "\(run.output)")
            let recorded = try #require(
                try h.reader().queryOne("SELECT operator FROM operator_actions WHERE action = 'withdraw'") { $0.optionalString(0) } ?? nil)
            #expect(!recorded.hasPrefix("root"), "\(recorded)")
            let loginSet = (try? String(contentsOfFile: "/proc/self/loginuid", encoding: .utf8))
                .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) != "4294967295" } ?? false
            if asRoot && !loginSet { #expect(recorded == "nobody (SUDO_USER=root, unverified)") }
        }
    }
}
