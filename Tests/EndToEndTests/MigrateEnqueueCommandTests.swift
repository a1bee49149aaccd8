import Foundation
import SQLite
import Testing
import TestSupport

/// The built `cancelq` binary, run as a process, for the database commands.
@Suite("cancelq migrate and enqueue")
struct MigrateEnqueueCommandTests {
    @Test("a copy of the binary alone in an empty directory migrates a new database")
    func binaryAloneMigrates() async throws {
        try await withTemporaryDirectory { dir in
            let lonely = dir + "/cancelq"
            try FileManager.default.copyItem(atPath: cancelqExecutable(), toPath: lonely)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: lonely)
            process.arguments = ["migrate", "--db", "queue.db"]
            process.currentDirectoryURL = URL(fileURLWithPath: dir)
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            #expect(process.terminationStatus == 0)
            let db = try Connection(path: dir + "/queue.db", options: .reader)
            #expect(try db.queryOne("SELECT count(*) FROM schema_migrations") { $0.int(0) } ?? 0 >= 1)
        }
    }

    @Test("enqueue queues once, reports the existing job the second time, and reads CANCELQ_DB")
    func enqueueIdempotent() async throws {
        try await withTemporaryDirectory { dir in
            let db = dir + "/q.db"
            let missing = try await runCancelq(["enqueue", "--db", db, "ORDER-1"])
            #expect(missing.status != 0)
            #expect(missing.stderr.contains("no database at \(db); create it with `cancelq migrate"))
            #expect(!FileManager.default.fileExists(atPath: db), "enqueue must not create a database")
            #expect(try await runCancelq(["migrate", "--db", db]).status == 0)
            let first = try await runCancelq(["enqueue", "--db", db, "ORDER-1", "--paid-at", "1700000000"])
            #expect(first.status == 0, "\(first.output)")
            #expect(first.stdout.contains("queued ORDER-1 as job 1 (state pending)"))
            let second = try await runCancelq(["enqueue", "ORDER-1"], environment: ["CANCELQ_DB": db])
            #expect(second.status == 0)
            #expect(second.stdout.contains("already queued: ORDER-1 is job 1 (state pending)"))
            let reader = try Connection(path: db, options: .reader)
            #expect(try reader.queryOne("SELECT paid_at FROM cancellations") { $0.double(0) } == 1_700_000_000)
        }
    }

    @Test("bad input: a clear message and a non-zero exit, nothing written")
    func badInput() async throws {
        try await withTemporaryDirectory { dir in
            #expect(try await runCancelq(["migrate", "--db", dir + "/q.db"]).status == 0)
            let malformed = try await runCancelq(["enqueue", "--db", dir + "/q.db", "bad order"])
            #expect(malformed.status != 0)
            #expect(malformed.stderr.contains("invalid order number: order number has character ' ' (space) at position 4"))

            let unwritable = try await runCancelq(["migrate", "--db", dir + "/no/such/dir/q.db"])
            #expect(unwritable.status != 0)
            #expect(unwritable.stderr.contains("the directory \(dir)/no/such/dir does not exist"))

            try Data("definitely not sqlite, but long enough to have a header page......".utf8)
                .write(to: URL(fileURLWithPath: dir + "/junk.db"))
            let notADatabase = try await runCancelq(["enqueue", "--db", dir + "/junk.db", "A"])
            #expect(notADatabase.status != 0)
            #expect(notADatabase.stderr.contains("is not an SQLite database"))

            let noDatabase = try await runCancelq(["enqueue", "A"])
            #expect(noDatabase.status != 0)
            #expect(noDatabase.stderr.contains("pass --db PATH (or a postgresql:// URL) or set CANCELQ_DB"))
        }
    }

    @Test("another program using only the sqlite3 shell can enqueue and read states")
    func sqliteShellContract() async throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/sqlite3") else { return }
        try await withTemporaryDirectory { dir in
            let db = dir + "/q.db"
            #expect(try await runCancelq(["migrate", "--db", db]).status == 0)
            let shell = Process()
            shell.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
            shell.arguments = [
                db,
                ".timeout 5000",
                "INSERT INTO cancellations(order_number, paid_at) VALUES ('SHELL-1', 1700000000);",
                "SELECT order_number || ' ' || state FROM cancellations;",
            ]
            let out = Pipe()
            shell.standardOutput = out
            try shell.run()
            shell.waitUntilExit()
            let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            #expect(shell.terminationStatus == 0)
            #expect(text.contains("SHELL-1 pending"))
        }
    }
}
