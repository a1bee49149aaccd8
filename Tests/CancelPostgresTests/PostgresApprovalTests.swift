import CancelCore
import CancelQueue
import CancelStore
import Foundation
import Testing
import TestSupport

@testable import CancelPostgres

/// Issue 18, point 4 on PostgreSQL: an approval releases exactly the held jobs the operator was
/// shown, also when an insert that began before the prompt commits after it.
@Suite("PostgreSQL: approval releases what was shown", .serialized, .enabled(if: PostgresServer.shouldRun, "\(PostgresServer.skipNote)"))
struct PostgresApprovalTests {
    let surge = Surge(enqueued: 10, window: 3600, holdAbove: 9, countedFrom: 0)

    func hold(_ orders: ClosedRange<Int>, in database: PostgresTestDatabase, _ queue: PostgresQueue) async throws {
        try database.psql("INSERT INTO cancellations(order_number) SELECT 'SHOWN-' || g FROM generate_series(\(orders.lowerBound), \(orders.upperBound)) g")
        try await queue.saveGate(.held(surge, since: QueueClock.now()), now: QueueClock.now())
    }

    @Test("10 shown, 15 queued while the prompt waits: nothing approved, 25 shown again, then exactly those released")
    func queuedWhileAsked() async throws {
        try await PostgresTestDatabase.with { database in
            try await database.withQueues(["operator"]) { queues in
                let queue = queues[0]
                try await hold(1...10, in: database, queue)
                let shown = try #require(try await queue.heldBacklog())
                #expect(shown.backlog == 10)
                try database.psql("INSERT INTO cancellations(order_number) SELECT 'LATER-' || g FROM generate_series(1, 15) g")
                guard case .changed(_, let now) = try await queue.approve(shown: shown, by: "alice") else {
                    Issue.record("an approval of 10 shown jobs released what was queued after the prompt")
                    return
                }
                #expect(now.backlog == 25)
                #expect(try await queue.loadGate().mode == .held)
                #expect(try database.psql("SELECT count(*) FROM operator_actions") == "0")
                guard case .released(let released) = try await queue.approve(shown: now, by: "alice") else {
                    Issue.record("the informed approval was refused")
                    return
                }
                #expect(released.backlog == 25)
                #expect(try await queue.loadGate() == .open)
                #expect(try database.psql("SELECT detail FROM operator_actions WHERE action = 'approve'").hasPrefix("released 25 waiting job(s)"))
                #expect(try database.psql("SELECT approved_at = \(released.approvedAt) FROM sending_gate") == "t")
            }
        }
    }

    @Test("an insert open before the prompt and committed during the approval is waited for and seen: nothing released unseen")
    func insertCommittedLate() async throws {
        try await PostgresTestDatabase.with { database in
            try await database.withQueues(["operator"]) { queues in
                let queue = queues[0]
                try await hold(1...10, in: database, queue)
                // An application's transaction: its 15 rows have ids and created_at now, and commit in 2 s.
                let binaries = try #require(PostgresServer.binDirectory)
                let application = Process()
                application.executableURL = URL(fileURLWithPath: binaries + "/psql")
                application.arguments = [
                    "-X", "-q", "-h", "127.0.0.1", "-p", "\(database.server.port)", "-U", "postgres", "-d",
                    PostgresServer.databaseName(database.url), "-c",
                    "BEGIN; INSERT INTO cancellations(order_number) SELECT 'LATE-' || g FROM generate_series(1, 15) g; SELECT pg_sleep(2); COMMIT;",
                ]
                application.standardOutput = FileHandle.nullDevice
                try application.run()
                defer { application.waitUntilExit() }
                // The sequence is not transactional: once it reads 25 the rows exist, uncommitted.
                #expect(try await eventually(timeout: 10) {
                    try database.psql("SELECT last_value FROM \(try database.psql("SELECT pg_get_serial_sequence('cancellations', 'id')"))") == "25"
                })
                let shown = try #require(try await queue.heldBacklog())
                #expect(shown.backlog == 10, "the prompt cannot see the open insert")
                let result = try await queue.approve(shown: shown, by: "alice")
                guard case .changed(_, let now) = result else {
                    Issue.record("approved \(result): 15 jobs the operator never saw would be released")
                    return
                }
                #expect(now.backlog == 25)
                #expect(try await queue.loadGate().mode == .held)
            }
        }
    }
}
