import QueueStoreConformance
import Synchronization
import Testing
import TestSupport

@testable import CancelPostgres

/// The store behaviours the run loop relies on, on a real PostgreSQL server: the same checks the
/// SQLite store passes (`QueueStoreConformance`).
@Suite("Store conformance: PostgreSQL", .serialized, .enabled(if: PostgresServer.shouldRun, "\(PostgresServer.skipNote)"))
struct PostgresConformanceTests {
    func withQueue(_ body: (PostgresQueue, PostgresTestDatabase) async throws -> Void) async throws {
        try await PostgresTestDatabase.with { database in
            try await database.withQueues(["node-1"]) { queues in try await body(queues[0], database) }
        }
    }

    @Test("new jobs oldest first; enqueue is idempotent and validates")
    func newJobs() async throws { try await withQueue { queue, _ in try await QueueStoreConformance.newJobsOldestFirstAndIdempotentEnqueue(queue) } }

    @Test("due jobs earliest first, within the limit; the next due time")
    func dueJobs() async throws { try await withQueue { queue, _ in try await QueueStoreConformance.dueJobsEarliestFirstAndNextDueTime(queue) } }

    @Test("a claim is interrupted until answered; the answer completes the audit trail")
    func claimAndAnswer() async throws { try await withQueue { queue, _ in try await QueueStoreConformance.claimThenAnswerKeepsTheAuditTrail(queue) } }

    @Test("a job changed by another writer is skipped alone, its answer kept")
    func tampered() async throws {
        try await withQueue { queue, database in
            try await QueueStoreConformance.aJobChangedUnderneathIsSkippedAloneAndItsAnswerKept(queue) { id in
                try database.psql("UPDATE cancellations SET state = 'failed', outcome = 'gave-up', owner = NULL WHERE id = \(id)")
            }
        }
    }

    @Test("an answer whose attempt row another writer completed moves the job on and is kept in a new row")
    func closedAttempt() async throws {
        try await withQueue { queue, database in
            try await QueueStoreConformance.anAnswerWhoseAttemptWasClosedIsKeptInANewRow(queue) { id in
                try database.psql("UPDATE cancellation_attempts SET completed_at = 1, error = 'closed by hand' WHERE cancellation_id = \(id)")
            } attempts: { id in
                try database.psql("SELECT attempt, completed_at IS NOT NULL, coalesce(error, '') FROM cancellation_attempts WHERE cancellation_id = \(id) ORDER BY attempt")
                    .split(separator: "\n").map { line in
                        let cells = line.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
                        return (Int(cells[0]) ?? -1, cells[1] == "t", cells[2].isEmpty ? nil : cells[2])
                    }
            }
        }
    }

    @Test("the gate is kept in every mode, and travels with a commit")
    func gate() async throws { try await withQueue { queue, _ in try await QueueStoreConformance.theGateIsKeptInEveryMode(queue) } }

    @Test("the surge count covers the window and starts again at the last approval")
    func surgeCount() async throws {
        try await withQueue { queue, database in
            try await QueueStoreConformance.theSurgeCountStartsAtTheLastApproval(queue) { at in
                try database.psql(
                    "UPDATE sending_gate SET mode = 'open', hold_enqueued = NULL, hold_above = NULL, hold_window = NULL, hold_counted_from = NULL, since = NULL, reason = NULL, approved_at = \(at)")
            }
        }
    }

    @Test("a withdrawal racing a claim has one winner: on PostgreSQL it waits for the claim's row lock and is refused")
    func withdrawalRacingAClaim() async throws {
        let accepted = Mutex<Bool?>(nil)
        try await withQueue { queue, database in
            try await QueueStoreConformance.aWithdrawalRacingAClaimHasOneWinner(queue) { order in
                do {
                    try database.psql("INSERT INTO cancellation_withdrawals(order_number, reason) VALUES ('\(order)', 'race')")
                    accepted.withLock { $0 = true }
                    return true
                } catch {
                    #expect("\(error)".contains("withdrawal_too_late_request_in_flight"), "\(error)")
                    accepted.withLock { $0 = false }
                    return false
                }
            }
        }
        #expect(accepted.withLock { $0 } == false, "the claim's read held the row: the withdrawal waited for it and was refused")
    }

    @Test("another process's insert is noticed (LISTEN/NOTIFY)")
    func foreignCommit() async throws {
        try await withQueue { queue, database in
            try await QueueStoreConformance.aForeignCommitIsNoticed(queue) {
                try database.psql("INSERT INTO cancellations(order_number) VALUES ('ELSEWHERE-1')")
            }
        }
    }
}
