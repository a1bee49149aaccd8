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
    /// that moved under the daemon (another process wrote its row) is skipped, alone, as
    /// `GuardedWrite` says; every answer is still recorded and the other jobs' changes commit.
    /// Returns what met a changed row.
    @discardableResult
    public func apply(_ writes: [JobWrite], gate: SendingGate? = nil, now: Double) async throws(StoreError) -> [TamperedWrite] {
        guard !writes.isEmpty || gate != nil else { return [] }
        let steps = SQLiteWriteSteps(connection: connection)
        let tampered = try await transaction(.immediate) { () async throws(StoreError) -> [TamperedWrite] in
            var tampered: [TamperedWrite] = []
            for write in writes {
                if let found = try await GuardedWrite.applyAlone(write, now: now, steps: steps) { tampered.append(found) }
            }
            if let gate { try storeErrors { try save(gate, now: now) } }
            return tampered
        }
        writeTransactions += 1
        return tampered
    }
}

/// The guarded write's statements on SQLite (the policy is `GuardedWrite`). One daemon holds the
/// queue (its file lock), so claims have no owner.
struct SQLiteWriteSteps: GuardedWriteSteps {
    let connection: Connection
    var node: String? { nil }

    func inSavepoint<T>(_ body: () async throws(StoreError) -> T) async throws(StoreError) -> T {
        try storeErrors { _ = try connection.run("SAVEPOINT job_write") }
        do {
            let value = try await body()
            try storeErrors { _ = try connection.run("RELEASE job_write") }
            return value
        } catch {
            // SQLite may have rolled the whole transaction back (a full disk, an I/O error, a
            // trigger's RAISE(ROLLBACK)): there is no savepoint left, and what follows must not run
            // outside a transaction. A transient error goes up as it was (the commit is retried
            // whole); anything else is no longer one write's refusal and stops the commit.
            guard connection.isInTransaction else {
                if error.isTransient { throw error }
                throw StoreError.schemaDamaged(
                    path: connection.path,
                    problems: ["the whole transaction was rolled back while one job was written (\(error)): nothing of the turn was committed"])
            }
            do {
                _ = try connection.run("ROLLBACK TO job_write")
                _ = try connection.run("RELEASE job_write")
            } catch {
                throw StoreError.schemaDamaged(path: connection.path, problems: ["undoing one job's write to its savepoint failed: \(error)"])
            }
            throw error
        }
    }

    /// The write lock (`BEGIN IMMEDIATE`) already keeps every other writer out.
    func lockJob(_ id: Int64) {}

    func updateJob(_ write: JobWrite, now: Double) throws(StoreError) -> Bool {
        let record = write.record
        let job = record.job
        return try storeErrors {
            try connection.run(
                """
                UPDATE cancellations SET state = ?, attempt_count = ?, request_count = ?, due_at = ?, outcome = ?,
                    last_status = ?, last_code = ?, last_error = ?, updated_at = ?, interruptions = ?
                WHERE id = ? AND state = ?
                """,
                job.state.rawValue, job.attemptCount, record.requestCount, job.dueAt, job.outcome?.rawValue,
                record.lastStatus, record.lastCode, record.lastError, now, job.interruptions, record.id,
                write.expectedState.rawValue) == 1
        }
    }

    func openAttempt(job id: Int64, number: Int, at: Double) throws(StoreError) {
        try storeErrors {
            _ = try connection.run("INSERT INTO cancellation_attempts(cancellation_id, attempt, started_at) VALUES (?, ?, ?)", id, number, at)
        }
    }

    func completeAttempt(job id: Int64, number: Int, at: Double, result: AttemptResult) throws(StoreError) -> Bool {
        try storeErrors {
            try connection.run(
                """
                UPDATE cancellation_attempts SET completed_at = ?, http_status = ?, result_status = ?,
                    result_code = ?, error = ?, counted = ?
                WHERE cancellation_id = ? AND attempt = ? AND completed_at IS NULL
                """,
                at, result.httpStatus, result.status, result.code, result.error, result.counted, id, number) == 1
        }
    }

    func appendAttempt(job id: Int64, at: Double, result: AttemptResult, error: String) throws(StoreError) -> Int? {
        try storeErrors {
            // The write lock is held: no one else can take the number meanwhile.
            let next = (try connection.queryOne(
                "SELECT coalesce(max(attempt), 0) + 1 FROM cancellation_attempts WHERE cancellation_id = ?", [id]) { $0.int(0) }) ?? 1
            _ = try connection.run(
                """
                INSERT INTO cancellation_attempts(cancellation_id, attempt, started_at, completed_at, http_status,
                    result_status, result_code, error, counted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, id, next, at, at, result.httpStatus, result.status, result.code, error, result.counted)
            return next
        }
    }

    func current(job id: Int64) throws(StoreError) -> (state: String, owner: String?)? {
        try storeErrors { try connection.queryOne("SELECT state FROM cancellations WHERE id = ?", [id]) { ($0.string(0), nil) } }
    }

    /// One daemon holds a SQLite queue: nothing is rescued from under it, so no answer arrives
    /// after a rescue (a restart's recovery closes only attempts whose answer can never come).
    func closedAsUnknown(job id: Int64, attempt number: Int) -> Bool { false }

    /// SQLITE_CONSTRAINT and its extended codes (a trigger's RAISE(ABORT) among them).
    func isRefusal(_ error: StoreError) -> Bool {
        guard case .database(let failure) = error else { return false }
        return failure.code & 0xFF == 19
    }
}
