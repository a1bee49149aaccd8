import Foundation
import SQLite
import Testing
import TestSupport

/// The README's enqueue snippets, run as pasted (only the database path is changed), in order:
/// what applications copy must work, and must fail the way the README says.
@Suite("README snippets")
struct ReadmeSnippetTests {
    static let readme: String = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return (try? String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)) ?? ""
    }()

    /// The first fenced block after `heading`.
    static func block(after heading: String) -> String? {
        guard let start = readme.range(of: heading),
            let open = readme.range(of: "```", range: start.upperBound..<readme.endIndex),
            let lineEnd = readme.range(of: "\n", range: open.upperBound..<readme.endIndex),
            let close = readme.range(of: "\n```", range: lineEnd.upperBound..<readme.endIndex)
        else { return nil }
        return String(readme[lineEnd.upperBound..<close.lowerBound])
    }

    @Test("the sqlite3 and Python snippets queue their orders; a repeat fails with the message the README quotes")
    func enqueueSnippets() async throws {
        try await withTemporaryDirectory { dir in
            let db = dir + "/queue.db"
            #expect(try await runCancelq(["migrate", "--db", db]).status == 0)
            let shell = try #require(Self.block(after: "**sqlite3 shell**")).replacingOccurrences(of: "/var/lib/cancelq/queue.db", with: db)
            let python = try #require(Self.block(after: "**Python**")).replacingOccurrences(of: "/var/lib/cancelq/queue.db", with: db)
            let first = try runProgram("/bin/sh", ["-c", shell])
            #expect(first.status == 0, "\(first.output)")
            #expect(first.output.contains("ORDER-20261127-0001|pending"), "\(first.output)")
            let second = try runProgram("/usr/bin/env", ["python3", "-c", python])
            #expect(second.status == 0, "\(second.output)")
            let rows = try Connection(path: db, options: .reader).query("SELECT order_number FROM cancellations ORDER BY id") { $0.string(0) }
            #expect(rows == ["ORDER-20261127-0001", "ORDER-20261127-0002"])
            let again = try runProgram("/bin/sh", ["-c", shell])
            #expect(again.output.contains("order_number_already_enqueued: "), "\(again.output)")
        }
    }

    @Test("the idiom for an order that may be queued already inserts once and is quiet after; OR IGNORE fails with the named error")
    func insertIfAbsentSnippet() async throws {
        try await withTemporaryDirectory { dir in
            let db = dir + "/queue.db"
            #expect(try await runCancelq(["migrate", "--db", db]).status == 0)
            let idiom = try #require(Self.block(after: "**Queuing an order that may already be queued**"))
            let python = """
                import sqlite3, sys, time
                db = sqlite3.connect(sys.argv[1], timeout=5)
                for _ in range(2):
                    with db:
                        db.execute(sys.argv[2], ("ORDER-20261127-0009", time.time(), "ORDER-20261127-0009"))
                print(db.execute("SELECT count(*) FROM cancellations").fetchone()[0])
                try:
                    with db:
                        db.execute("INSERT OR IGNORE INTO cancellations(order_number) VALUES ('ORDER-20261127-0009')")
                except sqlite3.DatabaseError as e:
                    print(e)
                """
            let result = try runProgram("/usr/bin/env", ["python3", "-c", python, db, idiom])
            #expect(result.status == 0, "\(result.output)")
            #expect(result.output.hasPrefix("1\norder_number_already_enqueued: "), "\(result.output)")
        }
    }

    @Test("the withdrawal snippet takes the queued order back; a repeat fails with the named error the README lists")
    func withdrawSnippet() async throws {
        try await withTemporaryDirectory { dir in
            let db = dir + "/queue.db"
            #expect(try await runCancelq(["migrate", "--db", db]).status == 0)
            let enqueue = try #require(Self.block(after: "**sqlite3 shell**")).replacingOccurrences(of: "/var/lib/cancelq/queue.db", with: db)
            let withdraw = try #require(Self.block(after: "**Withdrawing (sqlite3 shell)**"))
                .replacingOccurrences(of: "/var/lib/cancelq/queue.db", with: db)
            #expect(try runProgram("/bin/sh", ["-c", enqueue]).status == 0)
            let first = try runProgram("/bin/sh", ["-c", withdraw])
            #expect(first.status == 0, "\(first.output)")
            #expect(first.output.contains("ORDER-20261127-0001|withdrawn|withdrawn"), "\(first.output)")
            let again = try runProgram("/bin/sh", ["-c", withdraw])
            #expect(again.output.contains("withdrawal_too_late_job_final"), "\(again.output)")
            #expect(Self.readme.contains("`withdrawal_too_late_job_final: …`"))
        }
    }

    @Test("the cron line names the full path of the binary")
    func cronUsesFullPath() {
        let cron = Self.readme.split(separator: "\n").filter { $0.contains("* * * *") }
        #expect(!cron.isEmpty)
        #expect(cron.allSatisfy { $0.contains("/usr/local/bin/cancelq") }, "\(cron)")
    }
}
