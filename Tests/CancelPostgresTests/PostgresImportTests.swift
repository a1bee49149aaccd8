import CancelCore
import CancelQueue
import CancelStore
import Foundation
import Testing
import TestSupport

import CancelCopy
@testable import CancelPostgres

/// `copy-to-postgresql` through the stores: what the first PostgreSQL daemon decides from (the
/// sending gate, the last approval) arrives with the jobs.
@Suite("PostgreSQL: a SQLite queue copied", .serialized, .enabled(if: PostgresServer.shouldRun, "\(PostgresServer.skipNote)"))
struct PostgresImportTests {
    let limit = SurgeLimit(holdAbove: 9, window: 3600)

    @Test("a queue copied within the hold window keeps its gate and last approval: the next surge is counted from the approval, no hold again")
    func approvalTravels() async throws {
        try await withTemporaryDirectory { dir in
            let sqlite = try CancelStore.open(path: dir + "/q.db", create: true)
            // A surge, held as the daemon holds it, then approved as `cancelq approve --yes` does.
            for n in 1...10 { _ = try sqlite.enqueueNow(orderNumber: "SURGE-\(n)", paidAt: nil) }
            let counted = try sqlite.enqueuedForSurgeNow(now: QueueClock.now(), limit: limit)
            let surge = try #require(limit.surge(enqueued: counted.enqueued, countedFrom: counted.countedFrom))
            try sqlite.saveGateNow(.held(surge, since: QueueClock.now()), now: QueueClock.now())
            // Clear of the enqueue times on either side: SQLite keeps them to the millisecond.
            try await Task.sleep(for: .milliseconds(20))
            guard case .released(let released) = try await sqlite.approve(by: "alice") else {
                Issue.record("the surge hold was not approved")
                return
            }
            try await Task.sleep(for: .milliseconds(20))
            for n in 1...2 { _ = try sqlite.enqueueNow(orderNumber: "AFTER-\(n)", paidAt: nil) }
            // Then a third maintenance answer in a row, and the daemon was stopped for the move.
            let now = QueueClock.now()
            let paused = SendingGate.paused(until: now + 600, streak: 3, since: now)
            try sqlite.saveGateNow(paused, now: now)
            let onSQLite = try sqlite.enqueuedForSurgeNow(now: now, limit: limit)
            #expect(onSQLite.enqueued == 2 && onSQLite.countedFrom == released.approvedAt)

            try await PostgresTestDatabase.with { database in
                try await database.withQueues(["copy", "node-1"]) { queues in
                    _ = try await queues[0].importQueue(from: sqlite)
                    let daemon = queues[1]
                    let gate = try await daemon.readGate(lock: false)
                    #expect(gate.gate == paused, "the mode, the pause and its streak")
                    #expect(gate.approvedAt == released.approvedAt, "the last approval")
                    #expect(gate.probeOwner == nil && gate.probeUntil == nil)
                    let onPostgres = try await daemon.enqueuedForSurge(now: now, limit: limit)
                    #expect(onPostgres.enqueued == 2 && onPostgres.countedFrom == released.approvedAt, "\(onPostgres)")
                    #expect(
                        limit.surge(enqueued: onPostgres.enqueued, countedFrom: onPostgres.countedFrom) == nil,
                        "the first PostgreSQL daemon would hold again on the approved jobs")
                }
            }
        }
    }
}
