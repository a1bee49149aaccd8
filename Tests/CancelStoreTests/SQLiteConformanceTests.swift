import CancelCore
import Foundation
import QueueStoreConformance
import SQLite
import Testing
import TestSupport

@testable import CancelQueue
@testable import CancelStore

@Suite("Store conformance: SQLite")
struct SQLiteConformanceTests {
    func withStore(_ body: (CancelStore, String) async throws -> Void) async throws {
        try await withTemporaryDirectory { dir in
            try await body(try CancelStore.open(path: dir + "/q.db", create: true), dir + "/q.db")
        }
    }

    @Test("new jobs oldest first; enqueue is idempotent and validates")
    func newJobs() async throws { try await withStore { store, _ in try await QueueStoreConformance.newJobsOldestFirstAndIdempotentEnqueue(store) } }

    @Test("due jobs earliest first, within the limit; the next due time")
    func dueJobs() async throws { try await withStore { store, _ in try await QueueStoreConformance.dueJobsEarliestFirstAndNextDueTime(store) } }

    @Test("a claim is interrupted until answered; the answer completes the audit trail")
    func claimAndAnswer() async throws { try await withStore { store, _ in try await QueueStoreConformance.claimThenAnswerKeepsTheAuditTrail(store) } }

    @Test("a job changed by another writer is skipped alone, its answer kept")
    func tampered() async throws {
        try await withStore { store, path in
            try await QueueStoreConformance.aJobChangedUnderneathIsSkippedAloneAndItsAnswerKept(store) { id in
                try Connection(path: path).run("UPDATE cancellations SET state = 'failed', outcome = 'gave-up' WHERE id = ?", id)
            }
        }
    }

    @Test("an answer whose attempt row another writer completed moves the job on and is kept in a new row")
    func closedAttempt() async throws {
        try await withStore { store, path in
            try await QueueStoreConformance.anAnswerWhoseAttemptWasClosedIsKeptInANewRow(store) { id in
                // Only cancelq's connections may write attempt rows: this writer poses as one.
                let other = try Connection(path: path)
                try CancelqWriterFunctions.define(on: other)
                try other.run(
                    "UPDATE cancellation_attempts SET completed_at = 1, error = 'closed by hand' WHERE cancellation_id = ?", id)
            } attempts: { id in
                try Connection(path: path).query(
                    "SELECT attempt, completed_at IS NOT NULL, error FROM cancellation_attempts WHERE cancellation_id = ? ORDER BY attempt", [id]
                ) { ($0.int(0), $0.int(1) == 1, $0.optionalString(2)) }
            }
        }
    }

    @Test("the gate is kept in every mode, and travels with a commit")
    func gate() async throws { try await withStore { store, _ in try await QueueStoreConformance.theGateIsKeptInEveryMode(store) } }

    @Test("a job withdrawn before or while the daemon claims it is never claimed")
    func withdrawnNeverClaimed() async throws {
        try await withStore { store, path in
            let accepted = try await QueueStoreConformance.aWithdrawnJobIsNeverClaimed(store) { order in
                try Connection(path: path).run("INSERT INTO cancellation_withdrawals(order_number, reason) VALUES (?, 'test')", order) == 1
            }
            #expect(accepted == [true, true], "a read locks nothing: both land, and the writes find them withdrawn")
        }
    }

    @Test("a withdrawal racing a claim has one winner: on SQLite the withdrawal lands first and the claim finds it withdrawn")
    func withdrawalRacingAClaim() async throws {
        try await withStore { store, path in
            try await QueueStoreConformance.aWithdrawalRacingAClaimHasOneWinner(store) { order in
                try Connection(path: path).run("INSERT INTO cancellation_withdrawals(order_number, reason) VALUES (?, 'race')", order)
                return true
            }
        }
    }

    @Test("the surge count covers the window and starts again at the last approval")
    func surgeCount() async throws { try await withStore { store, _ in try await QueueStoreConformance.theSurgeCountStartsAtTheLastApproval(store) } }

    @Test("requeue moves only failed jobs, with a fresh budget and an audit line")
    func requeue() async throws { try await withStore { store, _ in try await QueueStoreConformance.requeueMovesOnlyFailedJobs(store) } }

    @Test("resume follows the gate in every mode and makes paused jobs due now")
    func resume() async throws { try await withStore { store, _ in try await QueueStoreConformance.resumeFollowsTheGate(store) } }

    @Test("a withdrawal lands before the request leaves, is refused after, and shows in the timeline")
    func withdrawals() async throws { try await withStore { store, _ in try await QueueStoreConformance.withdrawalsFollowTheJob(store) } }

    @Test("every status figure follows the queue: counts, oldest, next due, sending, today, failures, health")
    func status() async throws { try await withStore { store, _ in try await QueueStoreConformance.everyStatusFigureFollowsTheQueue(store) } }

    @Test("an approval releases what was shown, else asks again")
    func approval() async throws { try await withStore { store, _ in try await QueueStoreConformance.anApprovalReleasesWhatWasShown(store) } }

    @Test("another process's insert is noticed")
    func foreignCommit() async throws {
        try await withStore { store, path in
            try await QueueStoreConformance.aForeignCommitIsNoticed(store) {
                try Connection(path: path).run("INSERT INTO cancellations(order_number) VALUES ('ELSEWHERE-1')")
            }
        }
    }
}
