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

    /// Writes every change in ONE transaction: a job's state together with its attempt row.
    /// A guard failure (the row moved under us) rolls back the whole batch.
    public func apply(_ writes: [JobWrite], gate: SendingGate? = nil, now: Double) throws(StoreError) {
        guard !writes.isEmpty || gate != nil else { return }
        try storeErrors {
            try connection.transaction {
                for write in writes {
                    try apply(write, now: now)
                }
                if let gate { try save(gate, now: now) }
            }
        }
        writeTransactions += 1
    }

    func apply(_ write: JobWrite, now: Double) throws {
        let record = write.record
        let job = record.job
        let changed = try connection.run(
            """
            UPDATE cancellations SET state = ?, attempt_count = ?, request_count = ?, due_at = ?, outcome = ?,
                last_status = ?, last_code = ?, last_error = ?, updated_at = ?
            WHERE id = ? AND state = ?
            """,
            job.state.rawValue, job.attemptCount, record.requestCount, job.dueAt, job.outcome?.rawValue,
            record.lastStatus, record.lastCode, record.lastError, now, record.id, write.expectedState.rawValue)
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
            let completed = try connection.run(
                """
                UPDATE cancellation_attempts SET completed_at = ?, http_status = ?, result_status = ?,
                    result_code = ?, error = ?, counted = ?
                WHERE cancellation_id = ? AND attempt = ? AND completed_at IS NULL
                """,
                at, result.httpStatus, result.status, result.code, result.error, result.counted, record.id, number)
            guard completed == 1 else {
                throw StoreError.jobChangedUnderneath(id: record.id, expected: write.expectedState)
            }
        }
    }
}
