import CancelCore
import CancelStore
import Foundation
import PostgresNIO
import ZeusAPI

/// What the run loop asks of a store, on PostgreSQL. Reads that lead to a write (new rows, due
/// jobs, rescues) open a transaction and lock what they return, skipping rows another daemon has
/// locked; `commit` ends it. So two daemons never decide about the same job at once.
extension PostgresQueue: QueueStore {
    public var location: String { locationURL.description }

    public func enqueue(orderNumber: String, paidAt: Double?) async throws(StoreError) -> EnqueueResult {
        do {
            _ = try OrderNumber(validating: orderNumber)
        } catch {
            throw .invalidOrderNumber(error)
        }
        if let paidAt, !(paidAt >= 0 && paidAt.isFinite) { throw .invalidPaidAt(paidAt) }
        var created = false
        do {
            created = try await session.transaction { () async throws(StoreError) -> Bool in
                var binds = PostgresBindings()
                binds.append(orderNumber)
                binds.append(paidAt)
                // The README's statement for applications: the database sets the enqueue time, and a
                // conflict clause would meet the duplicate guard.
                return try await !session.rows(
                    PostgresQuery(
                        unsafeSQL: """
                            INSERT INTO cancellations(order_number, paid_at) SELECT $1, $2
                            WHERE NOT EXISTS (SELECT 1 FROM cancellations WHERE order_number = $1) RETURNING id
                            """,
                        binds: binds)
                ).isEmpty
            }
        } catch .server(_, _, Self.alreadyEnqueued) {
            // Another insert of the same order committed between the check and this row.
        }
        guard let record = try await job(orderNumber: orderNumber) else {
            throw .server(location: location, message: "the row vanished after its insert", constraint: nil)
        }
        return EnqueueResult(record: record, created: created)
    }

    /// The duplicate guard's (and the unique constraint's) name.
    static let alreadyEnqueued: String? = "order_number_already_enqueued"

    public func newJobs(limit: Int) async throws(StoreError) -> [JobRecord] {
        var binds = PostgresBindings()
        binds.append(limit)
        return try await jobs(where: "state = \(State.pending.sql) ORDER BY id LIMIT $1", binds, lock: true)
    }

    /// Due by the server's clock and by the caller's `now` (the daemon's estimate of it): never
    /// early by the server, and never read as "too early" by the daemon.
    public func dueJobs(now: Double, limit: Int) async throws(StoreError) -> [JobRecord] {
        var binds = PostgresBindings()
        binds.append(limit)
        binds.append(now)
        return try await jobs(
            where: "state IN \(State.awaitingSendSQL) AND due_at <= least(cancelq_now(), $2) ORDER BY due_at, id LIMIT $1", binds,
            lock: true)
    }

    public func nextDueTime() async throws(StoreError) -> Double? {
        try await session.rows("SELECT min(due_at) FROM cancellations WHERE state IN ('waiting-delay', 'retrying', 'maintenance-paused')")
            .first?.value(0)
    }

    /// At start: this daemon's own jobs left in flight by its previous run, and jobs copied from
    /// SQLite in flight (no owner). Other daemons' are rescued by `abandonedJobs`, once this
    /// daemon has heartbeated long enough to judge theirs.
    public func interruptedJobs() async throws(StoreError) -> [JobRecord] {
        var binds = PostgresBindings()
        binds.append(node)
        return try await jobs(where: "state = 'sent' AND (owner = $1 OR owner IS NULL) ORDER BY id", binds, lock: true)
    }

    public func hasUnfinishedJobs() async throws(StoreError) -> Bool {
        try await session.rows(
            PostgresQuery(unsafeSQL: "SELECT EXISTS (SELECT 1 FROM cancellations WHERE state IN \(State.unfinishedSQL))")
        ).first?.value(0) ?? false
    }

    public func loadGate() async throws(StoreError) -> SendingGate { try await readGate(lock: false).gate }

    /// Counted in one snapshot with the last approval; `now` is the daemon's clock, which is the
    /// server's (`ServerClock`).
    public func enqueuedForSurge(now: Double, limit: SurgeLimit) async throws(StoreError) -> (enqueued: Int, countedFrom: Double) {
        try await session.snapshot { () async throws(StoreError) -> (enqueued: Int, countedFrom: Double) in
            let stored = try await readGate(lock: false)
            let from = limit.countingFrom(now: now, approvedAt: stored.approvedAt)
            var binds = PostgresBindings()
            binds.append(from)
            binds.append(limit.countCap)
            let count: Int64 = try await session.rows(
                PostgresQuery(
                    unsafeSQL: "SELECT count(*) FROM (SELECT 1 FROM cancellations WHERE created_at > $1 LIMIT $2) AS counted",
                    binds: binds)
            ).first?.value(0) ?? 0
            return (Int(count), from)
        }
    }

    public func saveGate(_ gate: SendingGate, now: Double) async throws(StoreError) {
        try await session.transaction { () async throws(StoreError) in try await writeGate(gate, now: now) }
    }

    public func commit(_ writes: [JobWrite], gate: SendingGate?, now: Double) async throws(StoreError) -> [TamperedWrite] {
        if let uncertain = uncertainCommit {
            // The previous COMMIT got no answer. If it happened, this batch is already durable, and
            // what it reported then stands (a claim it refused must still not be sent). Its server
            // process may still be committing (stopped, or waiting for a standby): only once it is
            // gone does the token say for certain.
            if let backend = uncertain.backend { try await awaitEnd(of: backend) }
            if try await commitHappened(uncertain.token) {
                uncertainCommit = nil
                writeTransactions += 1
                return uncertain.report
            }
            uncertainCommit = nil
        }
        guard !writes.isEmpty || gate != nil else {
            try await endTransaction()
            return []
        }
        let token = UUID().uuidString
        do {
            try await session.begin()
            var refusedClaims: Set<Int64> = []
            if let gate {
                let stored = try await readGate(lock: true)
                var merged = gate.reconciled(withStored: stored.gate, now: stored.now)
                // A hold counted before an operator's approval (by another daemon) is stale.
                if case .held(let surge, _) = merged, let approved = stored.approvedAt, approved > surge.countedFrom,
                    stored.gate.mode != .held
                {
                    merged = stored.gate
                }
                if merged != stored.gate { try await writeGate(merged, now: now) }
            }
            if writes.contains(where: \.isClaim) { refusedClaims = try await claimsTheGateRefuses(writes) }
            var tampered: [TamperedWrite] = []
            var appliedInOneTrip: [JobWrite] = []
            for write in writes {
                if refusedClaims.contains(write.record.id) {
                    tampered.append(contended(write, found: "refused by the shared sending gate"))
                    continue
                }
                // The usual case in one round trip; anything else again, step by step, to say why.
                if try await applyInOneTrip(write, now: now) {
                    appliedInOneTrip.append(write)
                    continue
                }
                if let found = try await applyAlone(write, now: now) { tampered.append(found) }
            }
            try await verifyWritten(appliedInOneTrip, now: now)
            let landed = writes.filter { $0.expectedState == .sent }.map(\.record.id)
            if !landed.isEmpty { try await releaseProbe(of: landed) }
            try await markCommit(token)
            try await endTransaction(token: token, report: tampered)
            writeTransactions += 1
            return tampered
        } catch {
            await session.rollback()
            throw error
        }
    }

    public func notifyChanges(_ onChange: @escaping @Sendable () -> Void) -> (any ChangeNotifications)? {
        PostgresListener.start(location: locationURL, logger: logger) { [changes] in
            changes.raise()
            onChange()
        }
    }

    public func makeChangeDetector() throws(StoreError) -> any ChangeDetector { NotificationDetector(flag: changes) }

    // MARK: the commit's parts

    /// Commits an open transaction; a COMMIT that got no answer leaves `uncertainCommit` set.
    func endTransaction(token: String? = nil, report: [TamperedWrite] = []) async throws(StoreError) {
        let backend = session.backend
        do {
            try await session.commit()
        } catch {
            if case .unavailable = error, let token { uncertainCommit = (token, report, backend) }
            throw error
        }
    }

    /// Reads back, in one statement, what `cancelq_apply_write` said it wrote: a function replaced
    /// by one that answers "applied" and writes nothing would otherwise have the daemon send the
    /// same order again and again with no audit row. Throws `schemaDamaged` (the batch is rolled
    /// back, nothing is sent, the daemon stops).
    private func verifyWritten(_ writes: [JobWrite], now: Double) async throws(StoreError) {
        guard !writes.isEmpty else { return }
        var binds = PostgresBindings()
        binds.append(writes.map(\.record.id))
        binds.append(writes.map(\.record.job.state.rawValue))
        binds.append(writes.map { write -> Int in
            switch write.attempt {
            case .none: 0
            case .start(let number, _), .complete(let number, _, _): number
            }
        })
        binds.append(writes.map { write -> String in
            switch write.attempt {
            case .none: "none"
            case .start: "start"
            case .complete: "complete"
            }
        })
        binds.append(now)
        let missing = try await session.rows(
            PostgresQuery(
                unsafeSQL: """
                    SELECT w.id FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[]) AS w(id, state, attempt, kind)
                    WHERE NOT EXISTS (SELECT 1 FROM cancellations c WHERE c.id = w.id AND c.state = w.state AND c.updated_at = $5)
                       OR (w.kind <> 'none' AND NOT EXISTS (
                            SELECT 1 FROM cancellation_attempts a WHERE a.cancellation_id = w.id AND a.attempt = w.attempt
                            AND (a.completed_at IS NULL) = (w.kind = 'start')))
                    """, binds: binds))
        guard missing.isEmpty else {
            let ids = missing.compactMap { try? $0.value(0, as: Int64.self) }.map(String.init).joined(separator: ", ")
            throw .schemaDamaged(
                path: location,
                problems: [
                    "cancelq_apply_write reported writes it did not make (jobs \(ids)): the function is not the one cancelq made; nothing of this batch was committed or sent"
                ])
        }
    }

    /// The guard an answer, a claim or a rescue expects of the row's owner: a rescue or a
    /// restart's recovery the owner it read (NULL for a job copied from SQLite); an answer this
    /// daemon, which claimed it; any other write no owner.
    private func expectedOwner(of write: JobWrite) -> String? {
        write.expectedState == .sent ? (write.attemptOnlyWithJob ? write.record.owner : node) : nil
    }

    /// The write through `cancelq_apply_write`: the job's guarded update and its attempt row in
    /// one statement. false when it was not applied (nothing was written): `applyAlone` then
    /// finds out why.
    private func applyInOneTrip(_ write: JobWrite, now: Double) async throws(StoreError) -> Bool {
        let record = write.record
        var binds = PostgresBindings()
        binds.append(record.id)
        binds.append(write.expectedState.rawValue)
        binds.append(expectedOwner(of: write))
        binds.appendJobColumns(of: record, now: now, owner: record.job.state == .sent ? node : nil)
        switch write.attempt {
        case .none:
            binds.append(String?.none)
            binds.append(Int?.none)
            binds.append(Double?.none)
            binds.append(AttemptResult(counted: false))
        case .start(let number, let at):
            binds.append("start")
            binds.append(number)
            binds.append(at)
            binds.append(AttemptResult(counted: false))
        case .complete(let number, let at, let result):
            binds.append("complete")
            binds.append(number)
            binds.append(at)
            binds.append(result)
        }
        binds.append(node)
        let rows = try await session.rows(
            PostgresQuery(
                unsafeSQL: """
                    SELECT cancelq_apply_write($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
                        $18, $19, $20, $21, $22, $23)
                    """, binds: binds))
        let outcome: String? = try rows.first?.value(0)
        return outcome == "applied"
    }

    /// One job's write in a savepoint, so that a job changed meanwhile undoes only itself.
    private func applyAlone(_ write: JobWrite, now: Double) async throws(StoreError) -> TamperedWrite? {
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
    private func recordAside(_ write: JobWrite, now: Double, found: String?) async throws(StoreError) -> TamperedWrite {
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
    private func closedAsUnknown(id: Int64, attempt number: Int) async throws(StoreError) -> Bool {
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

    private func contended(_ write: JobWrite, found: String) -> TamperedWrite {
        TamperedWrite(
            id: write.record.id, orderNumber: write.record.orderNumber, expected: write.expectedState, found: found,
            jobUpdated: false, isClaim: true, attempt: nil, contended: true)
    }

    /// Applies one write, guarded by the state (and, for a job in flight, the owner) it was read in.
    /// Returns a note when the answer had to go to a new attempt row.
    private func apply(_ write: JobWrite, now: Double) async throws(StoreError) -> String? {
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
    private func recordAnswer(id: Int64, number: Int, at: Double, result: AttemptResult, jobExists: Bool) async throws(StoreError)
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

    /// Claims the stored gate does not allow: everything while halted or paused, and past its end
    /// one probe for the whole cluster, held by this daemon in `probe_owner` until its answer.
    private func claimsTheGateRefuses(_ writes: [JobWrite]) async throws(StoreError) -> Set<Int64> {
        let stored = try await readGate(lock: true)
        let claims = writes.filter(\.isClaim).map(\.record.id)
        switch stored.gate.allowance(now: stored.now, probeInFlight: false) {
        case .any:
            return []
        case .none:
            return Set(claims)
        case .probe:
            let probeHeld = stored.probeOwner != nil && stored.probeOwner != node && (stored.probeUntil ?? 0) > stored.now
            guard !probeHeld, let probe = claims.first else { return Set(claims) }
            var binds = PostgresBindings()
            binds.append(node)
            binds.append(probe)
            binds.append(leaseSeconds)
            try await session.rows(
                PostgresQuery(
                    unsafeSQL: "UPDATE sending_gate SET probe_owner = $1, probe_job = $2, probe_until = cancelq_now() + $3 WHERE id = 1",
                    binds: binds))
            return Set(claims.dropFirst())
        }
    }

    /// The probe's job was answered (or rescued): the probe is free again.
    private func releaseProbe(of jobs: [Int64]) async throws(StoreError) {
        var binds = PostgresBindings()
        binds.append(jobs)
        try await session.rows(
            PostgresQuery(
                unsafeSQL: "UPDATE sending_gate SET probe_owner = NULL, probe_job = NULL, probe_until = NULL WHERE id = 1 AND probe_job = ANY($1)",
                binds: binds))
    }
}

/// Foreign commits on PostgreSQL are announced by NOTIFY: a change is whatever arrived since the
/// last look. Nothing to confirm, and the daemon's own commits do not notify.
struct NotificationDetector: ChangeDetector {
    let flag: ChangeFlag
    mutating func noticed(now: Double) throws(StoreError) -> Bool { flag.take() }
    mutating func sawOwnCommit() throws(StoreError) -> Bool { false }
    var isUnconfirmed: Bool { false }
}

extension PostgresBindings {
    /// The job's columns a write sets, in table order: state, attempt_count, request_count, due_at,
    /// outcome, last_status, last_code, last_error, updated_at, interruptions, owner.
    fileprivate mutating func appendJobColumns(of record: JobRecord, now: Double, owner: String?) {
        let job = record.job
        append(job.state.rawValue)
        append(job.attemptCount)
        append(record.requestCount)
        append(job.dueAt)
        append(job.outcome?.rawValue)
        append(record.lastStatus)
        append(record.lastCode)
        append(record.lastError)
        append(now)
        append(job.interruptions)
        append(owner)
    }

    /// An attempt's result as `cancelq_apply_write` takes it: HTTP status, status, code, error, counted.
    fileprivate mutating func append(_ result: AttemptResult) {
        append(result.httpStatus)
        append(result.status)
        append(result.code)
        append(result.error)
        append(result.counted)
    }
}
