import CancelCore
import CancelQueue
import Foundation
import PostgresNIO
import ZeusAPI

/// A write that did not apply in one trip, again step by step: each in a savepoint, so a job changed
/// meanwhile undoes only itself, and the answer it carried still goes into the audit trail.
extension PostgresQueue {
    /// One job's write in a savepoint, so that a job changed meanwhile undoes only itself.
    func applyAlone(_ write: JobWrite, now: Double) async throws(StoreError) -> TamperedWrite? {
        try await session.rows("SAVEPOINT job_write")
        do {
            let note = try await apply(write, now: now)
            try await session.rows("RELEASE job_write")
            return note.map {
                TamperedWrite(
                    id: write.record.id, orderNumber: write.record.orderNumber, expected: write.expectedState,
                    found: write.record.state.rawValue, jobUpdated: true, isClaim: write.isClaim, attempt: $0)
            }
        } catch {
            guard case .jobChangedUnderneath = error else {
                if case .server = error {
                    // A constraint or trigger refused this one job's write: the batch goes on.
                    try await session.rows("ROLLBACK TO job_write")
                    try await session.rows("RELEASE job_write")
                    logger.error("job \(write.record.id): its write was refused: \(error)")
                    return try await recordAside(write, now: now, found: nil)
                }
                throw error
            }
            try await session.rows("ROLLBACK TO job_write")
            try await session.rows("RELEASE job_write")
        }
        var binds = PostgresBindings()
        binds.append(write.record.id)
        let row = try await session.rows(
            PostgresQuery(unsafeSQL: "SELECT state, owner FROM cancellations WHERE id = $1", binds: binds)
        ).first
        let found: String? = try row?.value(0)
        let owner: String? = try row?.value(1)
        if write.isClaim, found == State.sent.rawValue, owner != nil, owner != node {
            // Another daemon claimed it first (possible after a reconnect): not tampering.
            return contended(write, found: "sent by \(owner ?? "?")")
        }
        return try await recordAside(write, now: now, found: found)
    }

    /// The job's row was not updated: its answer still goes into the audit trail.
    func recordAside(_ write: JobWrite, now: Double, found: String?) async throws(StoreError) -> TamperedWrite {
        var attempt: String?
        var rescued = false
        if case .complete(let number, let at, let result) = write.attempt, !write.attemptOnlyWithJob {
            rescued = try await closedAsUnknown(id: write.record.id, attempt: number)
            attempt = try await recordAnswer(id: write.record.id, number: number, at: at, result: result, jobExists: found != nil)
                ?? "recorded in attempt \(number)"
        }
        var tampered = TamperedWrite(
            id: write.record.id, orderNumber: write.record.orderNumber, expected: write.expectedState, found: found,
            jobUpdated: false, isClaim: write.isClaim, attempt: attempt)
        tampered.arrivedAfterRescue = rescued
        return tampered
    }

    /// Whether attempt `number` was closed as "outcome unknown" (by a rescue) before its answer came.
    func closedAsUnknown(id: Int64, attempt number: Int) async throws(StoreError) -> Bool {
        var binds = PostgresBindings()
        binds.append(id)
        binds.append(number)
        binds.append(AttemptNotes.outcomeUnknownPrefix + "%")
        return try await !session.rows(
            PostgresQuery(
                unsafeSQL: """
                    SELECT 1 FROM cancellation_attempts WHERE cancellation_id = $1 AND attempt = $2
                    AND completed_at IS NOT NULL AND result_status IS NULL AND error LIKE $3
                    """, binds: binds)
        ).isEmpty
    }

    func contended(_ write: JobWrite, found: String) -> TamperedWrite {
        TamperedWrite(
            id: write.record.id, orderNumber: write.record.orderNumber, expected: write.expectedState, found: found,
            jobUpdated: false, isClaim: true, attempt: nil, contended: true)
    }

    /// Applies one write, guarded by the state (and, for a job in flight, the owner) it was read in.
    /// Returns a note when the answer had to go to a new attempt row.
    func apply(_ write: JobWrite, now: Double) async throws(StoreError) -> String? {
        let record = write.record
        let expectedOwner = expectedOwner(of: write)
        var binds = PostgresBindings()
        binds.appendJobColumns(of: record, now: now, owner: record.job.state == .sent ? node : nil)
        binds.append(record.id)
        binds.append(write.expectedState.rawValue)
        binds.append(expectedOwner)
        let changed = try await session.rows(
            PostgresQuery(
                unsafeSQL: """
                    UPDATE cancellations SET state = $1, attempt_count = $2, request_count = $3, due_at = $4, outcome = $5,
                        last_status = $6, last_code = $7, last_error = $8, updated_at = $9, interruptions = $10, owner = $11
                    WHERE id = $12 AND state = $13 AND owner IS NOT DISTINCT FROM $14
                    RETURNING id
                    """, binds: binds))
        guard changed.count == 1 else {
            throw StoreError.jobChangedUnderneath(id: record.id, expected: write.expectedState)
        }
        switch write.attempt {
        case .none:
            return nil
        case .start(let number, let at):
            var attemptBinds = PostgresBindings()
            attemptBinds.append(record.id)
            attemptBinds.append(number)
            attemptBinds.append(at)
            attemptBinds.append(node)
            try await session.rows(
                PostgresQuery(
                    unsafeSQL: "INSERT INTO cancellation_attempts(cancellation_id, attempt, started_at, node) VALUES ($1, $2, $3, $4)",
                    binds: attemptBinds))
            return nil
        case .complete(let number, let at, let result):
            return try await recordAnswer(id: record.id, number: number, at: at, result: result, jobExists: true)
        }
    }

    /// Completes attempt `number`; when it was completed meanwhile (a rescue said "outcome
    /// unknown"), the answer becomes a new attempt row. nil when completed in place.
    func recordAnswer(id: Int64, number: Int, at: Double, result: AttemptResult, jobExists: Bool) async throws(StoreError)
        -> String?
    {
        var binds = PostgresBindings()
        binds.append(at)
        binds.append(result.httpStatus)
        binds.append(result.status)
        binds.append(result.code)
        binds.append(result.error)
        binds.append(result.counted)
        binds.append(id)
        binds.append(number)
        let completed = try await session.rows(
            PostgresQuery(
                unsafeSQL: """
                    UPDATE cancellation_attempts SET completed_at = $1, http_status = $2, result_status = $3, result_code = $4,
                        error = $5, counted = $6
                    WHERE cancellation_id = $7 AND attempt = $8 AND completed_at IS NULL RETURNING id
                    """, binds: binds))
        if !completed.isEmpty { return nil }
        guard jobExists else { return "NOT recorded in the database (the job row is gone): only this log line keeps it" }
        let note = "attempt row \(number) was missing or already completed when this answer arrived"
        var insert = PostgresBindings()
        insert.append(id)
        insert.append(at)
        insert.append(result.httpStatus)
        insert.append(result.status)
        insert.append(result.code)
        insert.append([result.error, note].compactMap { $0 }.joined(separator: "; "))
        insert.append(result.counted)
        insert.append(node)
        // The next free number, taken under the job's lock so a concurrent claim cannot take it too.
        let rows = try await session.rows(
            PostgresQuery(
                unsafeSQL: """
                    WITH job AS (SELECT id FROM cancellations WHERE id = $1 FOR UPDATE)
                    INSERT INTO cancellation_attempts(cancellation_id, attempt, started_at, completed_at, http_status,
                        result_status, result_code, error, counted, node)
                    SELECT job.id, (SELECT coalesce(max(attempt), 0) + 1 FROM cancellation_attempts WHERE cancellation_id = job.id),
                        $2, $2, $3, $4, $5, $6, $7, $8
                    FROM job RETURNING attempt
                    """, binds: insert))
        let next: Int? = try rows.first?.value(0)
        return "recorded as attempt \(next.map(String.init) ?? "?") (row \(number) was missing or already completed)"
    }
}
