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

    @Test("a job withdrawn before the daemon claims it is never claimed; one withdrawn while the claim holds its row is refused")
    func withdrawnNeverClaimed() async throws {
        try await withQueue { queue, database in
            let accepted = try await QueueStoreConformance.aWithdrawnJobIsNeverClaimed(queue) { order in
                do {
                    // The claim's read holds the row until its commit, which this test makes after: give up soon.
                    _ = try database.psql(
                        "SET lock_timeout = '300ms'; INSERT INTO cancellation_withdrawals(order_number, reason) VALUES ('\(order)', 'test')")
                    return true
                } catch {
                    #expect("\(error)".contains("lock timeout"), "refused for the claim's lock only: \(error)")
                    return false
                }
            }
            #expect(accepted == [false, false], "each read locked its rows until its commit")
        }
    }

    @Test("the surge count covers the window and starts again at the last approval")
    func surgeCount() async throws { try await withQueue { queue, _ in try await QueueStoreConformance.theSurgeCountStartsAtTheLastApproval(queue) } }

    @Test("requeue moves only failed jobs, with a fresh budget and an audit line")
    func requeue() async throws { try await withQueue { queue, _ in try await QueueStoreConformance.requeueMovesOnlyFailedJobs(queue) } }

    @Test("resume follows the gate in every mode and makes paused jobs due now")
    func resume() async throws { try await withQueue { queue, _ in try await QueueStoreConformance.resumeFollowsTheGate(queue) } }

    @Test("a withdrawal lands before the request leaves, is refused after, and shows in the timeline")
    func withdrawals() async throws { try await withQueue { queue, _ in try await QueueStoreConformance.withdrawalsFollowTheJob(queue) } }

    @Test("every status figure follows the queue: counts, oldest, next due, sending, today, failures, health")
    func status() async throws { try await withQueue { queue, _ in try await QueueStoreConformance.everyStatusFigureFollowsTheQueue(queue) } }

    @Test("an approval releases what was shown, else asks again")
    func approval() async throws { try await withQueue { queue, _ in try await QueueStoreConformance.anApprovalReleasesWhatWasShown(queue) } }

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
