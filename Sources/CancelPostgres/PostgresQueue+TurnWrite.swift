import CancelCore
import CancelQueue
import PostgresNIO
import ZeusAPI

/// A turn's writes in one statement: each job's guarded update (by the state, and for a job in
/// flight the owner, it was read in) and its attempt row, for the whole turn at once, reporting
/// per job what was written. One round trip however many jobs, and the per-state counts move once
/// per statement and state instead of twice per job.
extension PostgresQueue {
    /// The ids whose job and attempt were both written; the other jobs were left untouched (the
    /// caller learns why, one by one). nil when the statement cannot say it for each job: two
    /// writes for one job, a constraint or trigger that refused a row (the statement failed), a
    /// job written without its attempt, or an answer that is not one row per write. The caller
    /// then rolls back to the savepoint before it and goes job by job, in the same transaction.
    func applyInOneStatement(_ writes: [JobWrite], now: Double) async throws(StoreError) -> Set<Int64>? {
        guard !writes.isEmpty else { return [] }
        guard Set(writes.map(\.record.id)).count == writes.count else { return nil }
        let rows: [PostgresRandomAccessRow]
        do {
            rows = try await session.rows(PostgresQuery(unsafeSQL: Self.turnWriteSQL, binds: turnBinds(writes, now: now)))
        } catch .server(_, let message, _, _) {
            // The server echoes the statement's values, the gateway's text among them.
            logger.notice("a turn's write was refused as one statement (\(LogText.escaped(message, limit: 300))); writing it job by job")
            return nil
        }
        guard rows.count == writes.count else { return nil }
        var applied: Set<Int64> = []
        for row in rows {
            // A NULL or unreadable cell (`try?` flattens both to nil): not an answer per job.
            guard let id = try? row.value(0, as: Int64?.self), let jobWritten = try? row.value(1, as: Bool?.self),
                let attemptWritten = try? row.value(2, as: Bool?.self)
            else { return nil }
            if jobWritten && !attemptWritten { return nil }
            if jobWritten { applied.insert(id) }
        }
        guard applied.isSubset(of: Set(writes.map(\.record.id))) else { return nil }
        return applied
    }

    private func turnBinds(_ writes: [JobWrite], now: Double) -> PostgresBindings {
        let records = writes.map(\.record)
        let results = writes.map { write -> AttemptResult? in
            if case .complete(_, _, let result) = write.attempt { return result }
            return nil
        }
        var binds = PostgresBindings()
        binds.append(records.map(\.id))
        binds.append(writes.map(\.expectedState.rawValue))
        binds.append(PostgresArrayLiteral.of(writes.map { expectedOwner(of: $0) }))
        binds.append(records.map(\.job.state.rawValue))
        binds.append(records.map(\.job.attemptCount))
        binds.append(records.map(\.requestCount))
        binds.append(PostgresArrayLiteral.of(records.map(\.job.dueAt)))
        binds.append(PostgresArrayLiteral.of(records.map { $0.job.outcome?.rawValue }))
        binds.append(PostgresArrayLiteral.of(records.map(\.lastStatus)))
        binds.append(PostgresArrayLiteral.of(records.map(\.lastCode)))
        binds.append(PostgresArrayLiteral.of(records.map(\.lastError)))
        binds.append(records.map(\.job.interruptions))
        binds.append(PostgresArrayLiteral.of(records.map { $0.job.state == .sent ? node : nil }))
        binds.append(writes.map { write -> String in
            switch write.attempt {
            case .none: "none"
            case .start: "start"
            case .complete: "complete"
            }
        })
        binds.append(writes.map { write -> Int in
            switch write.attempt {
            case .none: 0
            case .start(let number, _), .complete(let number, _, _): number
            }
        })
        binds.append(writes.map { write -> Double in
            switch write.attempt {
            case .none: 0
            case .start(_, let at), .complete(_, let at, _): at
            }
        })
        binds.append(PostgresArrayLiteral.of(results.map { $0?.httpStatus }))
        binds.append(PostgresArrayLiteral.of(results.map { $0?.status }))
        binds.append(PostgresArrayLiteral.of(results.map { $0?.code }))
        binds.append(PostgresArrayLiteral.of(results.map { $0?.error }))
        binds.append(results.map { $0?.counted ?? false })
        binds.append(now)
        binds.append(node)
        return binds
    }

    /// Joined by primary key only (`c.id = w.id`, the attempts' unique key): the plan does not
    /// depend on what the statistics say about states or times.
    static let turnWriteSQL = """
        WITH w AS (
            SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::float8[],
                $8::text[], $9::text[], $10::text[], $11::text[], $12::bigint[], $13::text[], $14::text[], $15::bigint[],
                $16::float8[], $17::bigint[], $18::text[], $19::text[], $20::text[], $21::boolean[])
                AS w(id, expected_state, expected_owner, state, attempt_count, request_count, due_at, outcome, last_status,
                     last_code, last_error, interruptions, owner, kind, attempt, attempt_at, http_status, result_status,
                     result_code, error, counted)
        ), job AS (
            UPDATE cancellations c SET state = w.state, attempt_count = w.attempt_count, request_count = w.request_count,
                due_at = w.due_at, outcome = w.outcome, last_status = w.last_status, last_code = w.last_code,
                last_error = w.last_error, updated_at = $22, interruptions = w.interruptions, owner = w.owner
            FROM w WHERE c.id = w.id AND c.state = w.expected_state AND c.owner IS NOT DISTINCT FROM w.expected_owner
            RETURNING c.id
        ), started AS (
            INSERT INTO cancellation_attempts (cancellation_id, attempt, started_at, node)
            SELECT w.id, w.attempt, w.attempt_at, $23 FROM w JOIN job ON job.id = w.id WHERE w.kind = 'start'
            RETURNING cancellation_id
        ), completed AS (
            UPDATE cancellation_attempts a SET completed_at = w.attempt_at, http_status = w.http_status,
                result_status = w.result_status, result_code = w.result_code, error = w.error, counted = w.counted
            FROM w JOIN job ON job.id = w.id
            WHERE w.kind = 'complete' AND a.cancellation_id = w.id AND a.attempt = w.attempt AND a.completed_at IS NULL
            RETURNING a.cancellation_id
        )
        SELECT w.id, job.id IS NOT NULL,
            w.kind = 'none' OR w.id IN (SELECT cancellation_id FROM started UNION ALL SELECT cancellation_id FROM completed)
        FROM w LEFT JOIN job ON job.id = w.id
        """
}
