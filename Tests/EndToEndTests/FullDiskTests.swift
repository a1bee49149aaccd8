import Foundation
import GatewaySimulator
import SQLite
import Testing
import TestSupport

/// The disk holding the queue fills up while requests are in flight: the daemon keeps their answers
/// in memory, claims nothing new, says so, and writes them once space is freed. It must not exit
/// (the answers would be lost and resent as "outcome unknown" at the next start, in a loop under
/// systemd). A real full file system: a small tmpfs, mounted as root (which CI runs as).
@Suite("a full disk under the daemon", .serialized, .enabled(if: geteuid() == 0, "mounting a small tmpfs needs root"))
struct FullDiskTests {
    @Test("answers arriving while the disk is full are kept and written when space returns; nothing is sent twice")
    func fullDiskKeepsAnswers() async throws {
        try await DaemonHarness.withHarness(latency: 2) { h in
            let disk = h.directory + "/disk"
            try FileManager.default.createDirectory(atPath: disk, withIntermediateDirectories: true)
            let mounted = try runProgram("/bin/mount", ["-t", "tmpfs", "-o", "size=8m", "tmpfs", disk])
            #expect(mounted.status == 0, "\(mounted.output)")
            defer { _ = try? runProgram("/bin/umount", ["-l", disk]) }
            let database = disk + "/queue.db"
            #expect(try await runCancelq(["migrate", "--db", database]).status == 0)
            let orders = (1...6).map { "FULL-\($0)" }
            try enqueue(orders, into: database)
            var arguments = h.runArguments(["--concurrency", "6", "--request-timeout", "20"])
            arguments[arguments.firstIndex(of: "--db")! + 1] = database
            let daemon = try RunningProcess(arguments, directory: h.directory)
            defer { daemon.signal(SIGKILL) }
            let claimed = await eventually(timeout: 10) { (try? count("state = 'sent'", in: database)) == orders.count }
            #expect(claimed, "\(daemon.output.suffix(2000))")

            // Fill the file system while the six requests wait for their answers.
            let filler = disk + "/filler"
            _ = try runProgram("/bin/dd", ["if=/dev/zero", "of=\(filler)", "bs=64k"])
            #expect(await daemon.waitForOutput("the disk holding the database is full", timeout: 10), "\(daemon.output.suffix(3000))")
            let check = try await runCancelq(["status", "--check", "--db", database])
            #expect(check.status == 1 && check.stdout.contains("is full"), "\(check.output)")
            try await Task.sleep(for: .seconds(2))
            #expect(daemon.isRunning, "the daemon exited on a full disk: \(daemon.output.suffix(3000))")

            try FileManager.default.removeItem(atPath: filler)
            let written = await eventually(timeout: 15) { (try? count("state = 'succeeded'", in: database)) == orders.count }
            #expect(written, "\(daemon.output.suffix(3000))")
            #expect(h.state.requests.count == orders.count, "sent again after the full disk: \(h.state.requests.count)")
            let attempts = try Connection(path: database, options: .reader).queryOne(
                "SELECT count(*) FROM cancellation_attempts WHERE result_code = '000'") { $0.int(0) }
            #expect(attempts == orders.count)
            daemon.signal(SIGTERM)
            #expect(await daemon.waitForExit(timeout: 10) == 0, "\(daemon.output.suffix(2000))")
        }
    }

    private func enqueue(_ orders: [String], into database: String) throws {
        let db = try Connection(path: database)
        for order in orders {
            try db.run("INSERT INTO cancellations(order_number, paid_at) VALUES (?, ?)", order, Date().timeIntervalSince1970 - 60)
        }
    }

    private func count(_ condition: String, in database: String) throws -> Int? {
        try Connection(path: database, options: .reader).queryOne("SELECT count(*) FROM cancellations WHERE \(condition)") { $0.int(0) }
    }
}
