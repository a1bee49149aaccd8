import CancelCore
import CancelQueue
import PostgresNIO

/// The guarded write's statements on PostgreSQL (the policy is `GuardedWrite`): a write the turn's
/// one statement did not apply, again step by step, to say why. Claims are owned: a job in flight
/// is guarded by its owner too.
struct PostgresWriteSteps: GuardedWriteSteps {
    let queue: PostgresQueue
    private var session: PostgresSession { queue.session }
    var node: String? { queue.node }

    func inSavepoint<T>(_ body: () async throws(StoreError) -> T) async throws(StoreError) -> T {
        try await session.rows("SAVEPOINT job_write")
        do {
            let value = try await body()
            try await session.rows("RELEASE job_write")
            return value
        } catch {
            // Only a statement the server refused leaves a transaction to roll back to. A lost
            // connection, a deadlock or a serialization failure took the transaction along: the
            // error goes up as it was, and the whole commit is retried (a ROLLBACK TO on a new
            // connection would fail as "refused" and let the rest of the turn run outside any
            // transaction).
            guard session.inTransaction, error.isStatementLevel else { throw error }
            do {
                try await session.rows("ROLLBACK TO job_write")
                try await session.rows("RELEASE job_write")
            } catch {
                // The transaction is not what the savepoint left: retry the whole turn.
                throw .unavailable(location: queue.location, reason: "undoing one job's write to its savepoint failed (\(error)) after: \(error)")
            }
            throw error
        }
    }

    /// The job's row before its attempt rows: the order `cancelq_apply_write`, the turn's statement
    /// and a rescue take them in, so that none of them waits for another in a circle.
    func lockJob(_ id: Int64) async throws(StoreError) {
        var binds = PostgresBindings()
        binds.append(id)
        try await session.rows(PostgresQuery(unsafeSQL: "SELECT 1 FROM cancellations WHERE id = $1 FOR UPDATE", binds: binds))
    }

    func updateJob(_ write: JobWrite, now: Double) async throws(StoreError) -> Bool {
        let record = write.record
        var binds = PostgresBindings()
        binds.appendJobColumns(of: record, now: now, owner: record.job.state == .sent ? queue.node : nil)
        binds.append(record.id)
        binds.append(write.expectedState.rawValue)
        binds.append(queue.expectedOwner(of: write))
        return try await session.rows(
            PostgresQuery(
                unsafeSQL: """
                    UPDATE cancellations SET state = $1, attempt_count = $2, request_count = $3, due_at = $4, outcome = $5,
                        last_status = $6, last_code = $7, last_error = $8, updated_at = $9, interruptions = $10, owner = $11
                    WHERE id = $12 AND state = $13 AND owner IS NOT DISTINCT FROM $14
                    RETURNING id
                    """, binds: binds)
        ).count == 1
    }

    func openAttempt(job id: Int64, number: Int, at: Double) async throws(StoreError) {
        var binds = PostgresBindings()
        binds.append(id)
        binds.append(number)
        binds.append(at)
        binds.append(queue.node)
        try await session.rows(
            PostgresQuery(
                unsafeSQL: "INSERT INTO cancellation_attempts(cancellation_id, attempt, started_at, node) VALUES ($1, $2, $3, $4)",
                binds: binds))
    }

    func completeAttempt(job id: Int64, number: Int, at: Double, result: AttemptResult) async throws(StoreError) -> Bool {
        var binds = PostgresBindings()
        binds.append(at)
        binds.append(result.httpStatus)
        binds.append(result.status)
        binds.append(result.code)
        binds.append(result.error)
        binds.append(result.counted)
        binds.append(id)
        binds.append(number)
        return try await !session.rows(
            PostgresQuery(
                unsafeSQL: """
                    UPDATE cancellation_attempts SET completed_at = $1, http_status = $2, result_status = $3, result_code = $4,
                        error = $5, counted = $6
                    WHERE cancellation_id = $7 AND attempt = $8 AND completed_at IS NULL RETURNING id
                    """, binds: binds)
        ).isEmpty
    }

    func appendAttempt(job id: Int64, at: Double, result: AttemptResult, error: String) async throws(StoreError) -> Int? {
        var binds = PostgresBindings()
        binds.append(id)
        binds.append(at)
        binds.append(result.httpStatus)
        binds.append(result.status)
        binds.append(result.code)
        binds.append(error)
        binds.append(result.counted)
        binds.append(queue.node)
        // The next free number, taken under the job's lock so a concurrent claim cannot take it too.
        return try await session.rows(
            PostgresQuery(
                unsafeSQL: """
                    WITH job AS (SELECT id FROM cancellations WHERE id = $1 FOR UPDATE)
                    INSERT INTO cancellation_attempts(cancellation_id, attempt, started_at, completed_at, http_status,
                        result_status, result_code, error, counted, node)
                    SELECT job.id, (SELECT coalesce(max(attempt), 0) + 1 FROM cancellation_attempts WHERE cancellation_id = job.id),
                        $2, $2, $3, $4, $5, $6, $7, $8
                    FROM job RETURNING attempt
                    """, binds: binds)
        ).first?.value(0)
    }

    func current(job id: Int64) async throws(StoreError) -> (state: String, owner: String?)? {
        var binds = PostgresBindings()
        binds.append(id)
        guard let row = try await session.rows(PostgresQuery(unsafeSQL: "SELECT state, owner FROM cancellations WHERE id = $1", binds: binds)).first
        else { return nil }
        return (try row.value(0), try row.value(1))
    }

    func closedAsUnknown(job id: Int64, attempt number: Int) async throws(StoreError) -> Bool {
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

    /// An integrity constraint (class 23, what cancelq's own triggers raise) or a trigger's plain
    /// RAISE EXCEPTION (P0001) refused this one write. Anything else (a statement or lock timeout,
    /// a missing privilege, a lost connection, a deadlock) is not this write's fault and stops the
    /// commit, to be retried whole.
    func isRefusal(_ error: StoreError) -> Bool {
        guard case .server(_, _, _, let state) = error else { return false }
        return state.hasPrefix("23") || state == "P0001"
    }
}

extension StoreError {
    /// A statement the server refused, or a write the guard found changed: the transaction is
    /// still there to undo the one write to its savepoint.
    var isStatementLevel: Bool {
        switch self {
        case .server, .jobChangedUnderneath: true
        default: false
        }
    }
}
