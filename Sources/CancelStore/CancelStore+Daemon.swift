import CancelCore
import SQLite

/// The daemon's reads and its batched writes ("group commit": many jobs, one fsync).
extension CancelStore {
    /// The hot queries name their index: the planner would otherwise pick the state index and sort.
    static let awaitingSend = "('waiting-delay', 'retrying', 'maintenance-paused')"

    /// New rows, oldest first.
    public func pendingJobs(limit: Int) throws(StoreError) -> [JobRecord] {
        try storeErrors {
            try connection.query(
                "SELECT \(JobRecord.columns) FROM cancellations WHERE state = 'pending' ORDER BY id LIMIT ?",
                [limit]
            ) { try JobRecord(row: $0) }
        }
    }

    /// Jobs whose due time has come, earliest first.
    public func dueJobs(now: Double, limit: Int) throws(StoreError) -> [JobRecord] {
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
    public func nextDueTime() throws(StoreError) -> Double? {
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
                "SELECT \(JobRecord.columns) FROM cancellations WHERE state = 'sent' ORDER BY id"
            ) { try JobRecord(row: $0) }
        }
    }

    /// Whether any job is not yet `succeeded` or `failed`.
    public func hasUnfinishedJobs() throws(StoreError) -> Bool {
        try storeErrors {
            try connection.queryOne(
                """
                SELECT EXISTS (SELECT 1 FROM cancellations
                WHERE state IN ('pending', 'waiting-delay', 'sent', 'retrying', 'maintenance-paused'))
                """
            ) { $0.int(0) == 1 } ?? false
        }
    }

    /// A write whose job had been changed by another process: the job keeps what that process
    /// set, the answer (if any) is still in the audit trail, and the rest of the batch commits.
    public struct SkippedWrite: Sendable, Equatable {
        public let id: Int64
        public let orderNumber: String
        public let expected: State
        /// The state the row holds now, or nil when the row is gone.
        public let found: String?
        /// What became of the attempt row this write completes, when it completes one.
        public let attempt: String?
    }

    /// Writes every change in ONE transaction: a job's state together with its attempt row. A job
    /// that moved under the daemon (another process wrote its row) is skipped, alone: its answer
    /// is still recorded and the other jobs' changes commit. Returns the skipped writes.
    @discardableResult
    public func apply(_ writes: [JobWrite], gate: SendingGate? = nil, now: Double) throws(StoreError) -> [SkippedWrite] {
        guard !writes.isEmpty || gate != nil else { return [] }
        let skipped: [SkippedWrite] = try storeErrors {
            try connection.transaction {
                var skipped: [SkippedWrite] = []
                for write in writes {
                    if let skip = try applyAlone(write, now: now) { skipped.append(skip) }
                }
                if let gate { try save(gate, now: now) }
                return skipped
            }
        }
        writeTransactions += 1
        return skipped
    }

    /// One write inside a savepoint, so that its failure undoes only itself.
    private func applyAlone(_ write: JobWrite, now: Double) throws -> SkippedWrite? {
        try connection.run("SAVEPOINT job_write")
        do {
            try apply(write, now: now)
            try connection.run("RELEASE job_write")
            return nil
        } catch StoreError.jobChangedUnderneath {
            try connection.run("ROLLBACK TO job_write")
            try connection.run("RELEASE job_write")
        }
        let found = try connection.queryOne("SELECT state FROM cancellations WHERE id = ?", [write.record.id]) { $0.string(0) }
        var attempt: String?
        if case .complete(let number, let at, let result) = write.attempt {
            attempt = try recordAnswerOfChangedJob(id: write.record.id, number: number, at: at, result: result)
        }
        return SkippedWrite(
            id: write.record.id, orderNumber: write.record.orderNumber, expected: write.expectedState, found: found,
            attempt: attempt)
    }

    /// The audit row of an answer whose job was changed meanwhile: completed in place, or written
    /// anew when another process removed or completed it. Every answer received is kept.
    private func recordAnswerOfChangedJob(id: Int64, number: Int, at: Double, result: AttemptResult) throws -> String {
        if try completeAttempt(id: id, number: number, at: at, result: result) { return "recorded in attempt \(number)" }
        try connection.run("SAVEPOINT audit_row")
        do {
            let next = (try connection.queryOne(
                "SELECT coalesce(max(attempt), 0) + 1 FROM cancellation_attempts WHERE cancellation_id = ?", [id]) { $0.int(0) }) ?? 1
            let note = "attempt row \(number) was missing or already completed when this answer arrived"
            try connection.run(
                """
                INSERT INTO cancellation_attempts(cancellation_id, attempt, started_at, completed_at, http_status,
                    result_status, result_code, error, counted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, id, next, at, at, result.httpStatus, result.status, result.code,
                [result.error, note].compactMap { $0 }.joined(separator: "; "), result.counted)
            try connection.run("RELEASE audit_row")
            return "recorded as attempt \(next) (row \(number) was missing or completed)"
        } catch {
            // The job row itself is gone: the journal line is the only record left.
            try connection.run("ROLLBACK TO audit_row")
            try connection.run("RELEASE audit_row")
            return "NOT recorded in the database (the job row is gone): only this log line keeps it"
        }
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

    func apply(_ write: JobWrite, now: Double) throws {
        let record = write.record
        let job = record.job
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
        switch write.attempt {
        case .none:
            break
        case .start(let number, let at):
            try connection.run(
                "INSERT INTO cancellation_attempts(cancellation_id, attempt, started_at) VALUES (?, ?, ?)",
                record.id, number, at)
        case .complete(let number, let at, let result):
            guard try completeAttempt(id: record.id, number: number, at: at, result: result) else {
                throw StoreError.jobChangedUnderneath(id: record.id, expected: write.expectedState)
            }
        }
    }
}
