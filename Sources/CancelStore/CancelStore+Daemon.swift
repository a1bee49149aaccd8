import CancelQueue
import CancelCore
import SQLite

/// The daemon's reads and its batched writes ("group commit": many jobs, one fsync).
extension CancelStore {
    /// The hot queries name their index: the planner would otherwise pick the state index and sort.
    static let awaitingSend = State.awaitingSendSQL

    /// New rows, oldest first.
    public func pendingJobs(limit: Int) throws(StoreError) -> [JobRecord] {
        try storeErrors {
            try connection.query(
                "SELECT \(JobRecord.columns) FROM cancellations WHERE state = \(State.pending.sql) ORDER BY id LIMIT ?",
                [limit]
            ) { try JobRecord(row: $0) }
        }
    }

    /// Jobs whose due time has come, earliest first.
    public func dueJobsNow(now: Double, limit: Int) throws(StoreError) -> [JobRecord] {
        try storeErrors {
            try connection.query(
                """
                SELECT \(JobRecord.columns) FROM cancellations INDEXED BY cancellations_due
                WHERE state IN \(Self.awaitingSend) AND due_at <= ? ORDER BY due_at, id LIMIT ?
                """, [now, limit]
            ) { try JobRecord(row: $0) }
        }
    }

    /// When the next job waiting to be sent becomes due.
    public func nextDueTimeNow() throws(StoreError) -> Double? {
        try storeErrors {
            try connection.queryOne(
                "SELECT min(due_at) FROM cancellations INDEXED BY cancellations_due WHERE state IN \(Self.awaitingSend)"
            ) { $0.optionalDouble(0) } ?? nil
        }
    }

    /// Jobs a previous run left in `sent`.
    public func inFlightJobs() throws(StoreError) -> [JobRecord] {
        try storeErrors {
            try connection.query(
                "SELECT \(JobRecord.columns) FROM cancellations WHERE state = \(State.sent.sql) ORDER BY id"
            ) { try JobRecord(row: $0) }
        }
    }

    /// Whether any job is not yet `succeeded` or `failed`.
    public func hasUnfinishedJobsNow() throws(StoreError) -> Bool {
        try storeErrors {
            try connection.queryOne(
                """
                SELECT EXISTS (SELECT 1 FROM cancellations
                WHERE state IN \(State.unfinishedSQL))
                """
            ) { $0.int(0) == 1 } ?? false
        }
    }

    /// Writes every change in ONE transaction: a job's state together with its attempt row. A job
    /// that moved under the daemon (another process wrote its row) is skipped, alone; every answer
    /// is still recorded and the other jobs' changes commit. Returns what met a changed row.
    @discardableResult
    public func apply(_ writes: [JobWrite], gate: SendingGate? = nil, now: Double) throws(StoreError) -> [TamperedWrite] {
        guard !writes.isEmpty || gate != nil else { return [] }
        let tampered: [TamperedWrite] = try storeErrors {
            try connection.transaction {
                var tampered: [TamperedWrite] = []
                for write in writes {
                    if let found = try applyAlone(write, now: now) { tampered.append(found) }
                }
                if let gate { try save(gate, now: now) }
                return tampered
            }
        }
        writeTransactions += 1
        return tampered
    }

    /// One write inside a savepoint, so that a job changed under the daemon undoes only itself.
    private func applyAlone(_ write: JobWrite, now: Double) throws -> TamperedWrite? {
        try connection.run("SAVEPOINT job_write")
        do {
            let note = try apply(write, now: now)
            try connection.run("RELEASE job_write")
            return note.map {
                TamperedWrite(
                    id: write.record.id, orderNumber: write.record.orderNumber, expected: write.expectedState,
                    found: write.record.state.rawValue, jobUpdated: true, isClaim: write.isClaim, attempt: $0)
            }
        } catch StoreError.jobChangedUnderneath {
            try connection.run("ROLLBACK TO job_write")
            try connection.run("RELEASE job_write")
        }
        let found = try connection.queryOne("SELECT state FROM cancellations WHERE id = ?", [write.record.id]) { $0.string(0) }
        var attempt: String?
        if case .complete(let number, let at, let result) = write.attempt, !write.attemptOnlyWithJob {
            attempt = try recordAnswer(id: write.record.id, number: number, at: at, result: result, jobExists: found != nil)
                ?? "recorded in attempt \(number)"
        }
        return TamperedWrite(
            id: write.record.id, orderNumber: write.record.orderNumber, expected: write.expectedState, found: found,
            jobUpdated: false, isClaim: write.isClaim, attempt: attempt)
    }

    /// Completes attempt `number` with its answer; when another process completed or removed that
    /// row, writes the answer as a new attempt row instead. nil when the row was completed in place.
    private func recordAnswer(id: Int64, number: Int, at: Double, result: AttemptResult, jobExists: Bool) throws -> String? {
        if try completeAttempt(id: id, number: number, at: at, result: result) { return nil }
        guard jobExists else { return "NOT recorded in the database (the job row is gone): only this log line keeps it" }
        let next = (try connection.queryOne(
            "SELECT coalesce(max(attempt), 0) + 1 FROM cancellation_attempts WHERE cancellation_id = ?", [id]) { $0.int(0) }) ?? 1
        let note = "attempt row \(number) was missing or already completed when this answer arrived"
        try connection.run(
            """
            INSERT INTO cancellation_attempts(cancellation_id, attempt, started_at, completed_at, http_status,
                result_status, result_code, error, counted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, id, next, at, at, result.httpStatus, result.status, result.code,
            [result.error, note].compactMap { $0 }.joined(separator: "; "), result.counted)
        return "recorded as attempt \(next) (row \(number) was missing or already completed)"
    }

    private func completeAttempt(id: Int64, number: Int, at: Double, result: AttemptResult) throws -> Bool {
        try connection.run(
            """
            UPDATE cancellation_attempts SET completed_at = ?, http_status = ?, result_status = ?,
                result_code = ?, error = ?, counted = ?
            WHERE cancellation_id = ? AND attempt = ? AND completed_at IS NULL
            """,
            at, result.httpStatus, result.status, result.code, result.error, result.counted, id, number) == 1
    }

    /// Applies one write; returns a note when the answer had to go to a new attempt row. An answer
    /// is recorded before the job's new state: the schema lets a job become `succeeded` only on an
    /// attempt row holding the gateway's confirmation (a savepoint around each write undoes both
    /// when the job moved underneath).
    func apply(_ write: JobWrite, now: Double) throws -> String? {
        let record = write.record
        let job = record.job
        var note: String?
        if case .complete(let number, let at, let result) = write.attempt {
            note = try recordAnswer(id: record.id, number: number, at: at, result: result, jobExists: true)
        }
        let changed = try connection.run(
            """
            UPDATE cancellations SET state = ?, attempt_count = ?, request_count = ?, due_at = ?, outcome = ?,
                last_status = ?, last_code = ?, last_error = ?, updated_at = ?, interruptions = ?
            WHERE id = ? AND state = ?
            """,
            job.state.rawValue, job.attemptCount, record.requestCount, job.dueAt, job.outcome?.rawValue,
            record.lastStatus, record.lastCode, record.lastError, now, job.interruptions, record.id,
            write.expectedState.rawValue)
        guard changed == 1 else {
            throw StoreError.jobChangedUnderneath(id: record.id, expected: write.expectedState)
        }
        if case .start(let number, let at) = write.attempt {
            try connection.run(
                "INSERT INTO cancellation_attempts(cancellation_id, attempt, started_at) VALUES (?, ?, ?)",
                record.id, number, at)
        }
        return note
    }
}
