import CancelCore
import CancelQueue
import Foundation
import PostgresNIO
import ZeusAPI

/// The parts of `commit` (PostgresQueue+QueueStore.swift): each job's write in one round trip and
/// its read-back, the step-by-step path that says why a write was not applied, the shared gate's
/// refusal of claims and the probe's release.
extension PostgresQueue {
    /// Commits an open transaction; a COMMIT that got no answer leaves `uncertainCommit` set.
    func endTransaction(token: String? = nil, report: [TamperedWrite] = [], writes: [JobWrite] = [], gate: SendingGate? = nil) async throws(StoreError) {
        let backend = session.backend
        do {
            try await session.commit()
        } catch {
            if case .unavailable = error, let token {
                uncertainCommit = UncertainCommit(token: token, report: report, backend: backend, writes: writes, gate: gate)
            }
            throw error
        }
    }
}

/// A COMMIT that got no answer: its token (in `cancelq_daemons.last_commit` if it happened), what
/// it reported, its server process, and which batch it was.
struct UncertainCommit {
    let token: String
    let report: [TamperedWrite]
    let backend: PostgresSession.Backend?
    let keys: Set<String>
    let gate: SendingGate?

    init(token: String, report: [TamperedWrite], backend: PostgresSession.Backend?, writes: [JobWrite], gate: SendingGate?) {
        self.token = token
        self.report = report
        self.backend = backend
        keys = Set(writes.map(Self.key))
        self.gate = gate
    }

    /// A write as a retry of its batch carries it again: the job, the state it expects, whether it
    /// claims (a retry restamps a claim's start, and may drop claims, but changes nothing else).
    static func key(_ write: JobWrite) -> String { "\(write.record.id) \(write.expectedState.rawValue) \(write.isClaim)" }

    /// Whether `writes` and `gate` are this batch again (or part of it): if it committed, they are
    /// durable and its report stands; anything else must still be written.
    func isRetried(by writes: [JobWrite], gate: SendingGate?) -> Bool {
        (gate == nil || gate == self.gate) && writes.allSatisfy { keys.contains(Self.key($0)) }
    }
}

extension PostgresQueue {

    /// Reads back, in one statement joined by primary key only, what the turn's statement (or
    /// `cancelq_apply_write`) said it wrote: a function or trigger replaced by one that answers
    /// "applied" and writes nothing would otherwise have the daemon send the same order again and
    /// again with no audit row. Throws `schemaDamaged` (the batch is rolled back, nothing is sent,
    /// the daemon stops).
    func verifyWritten(_ writes: [JobWrite], now: Double) async throws(StoreError) {
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
                    LEFT JOIN cancellations c ON c.id = w.id
                    LEFT JOIN cancellation_attempts a ON w.kind <> 'none' AND a.cancellation_id = w.id AND a.attempt = w.attempt
                    WHERE c.id IS NULL OR c.state IS DISTINCT FROM w.state OR c.updated_at IS DISTINCT FROM $5
                       OR (w.kind <> 'none' AND (a.id IS NULL OR (a.completed_at IS NULL) <> (w.kind = 'start')))
                    """, binds: binds))
        guard missing.isEmpty else {
            let ids = missing.compactMap { try? $0.value(0, as: Int64.self) }.map(String.init).joined(separator: ", ")
            throw .schemaDamaged(
                path: location,
                problems: [
                    "the queue reported writes it did not make (jobs \(ids)): a function or trigger on its tables is not the one cancelq made; nothing of this batch was committed or sent"
                ])
        }
    }

    /// The guard an answer, a claim or a rescue expects of the row's owner: a rescue or a
    /// restart's recovery the owner it read (NULL for a job copied from SQLite); an answer this
    /// daemon, which claimed it; any other write no owner.
    func expectedOwner(of write: JobWrite) -> String? {
        write.expectedState == .sent ? (write.attemptOnlyWithJob ? write.record.owner : node) : nil
    }

    /// The write through `cancelq_apply_write`: the job's guarded update and its attempt row in
    /// one statement. false when it was not applied (nothing was written): `applyAlone` then
    /// finds out why.
    func applyInOneTrip(_ write: JobWrite, now: Double) async throws(StoreError) -> Bool {
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

    /// Claims the stored gate does not allow: everything while halted or paused, and past its end
    /// one probe for the whole cluster, held by this daemon in `probe_owner` until its answer.
    ///
    /// The gate is read under a shared lock: an operator's or another daemon's change of the gate
    /// waits for this commit (and this commit for it), but the daemons' claims do not queue behind
    /// each other's commits. Only the probe is written, under the exclusive lock, taken without
    /// waiting: when another daemon holds the gate too, this turn's claims are refused and the
    /// probe is decided next turn under the exclusive lock from the start (two daemons waiting to
    /// upgrade their shared locks would deadlock).
    func claimsTheGateRefuses(_ writes: [JobWrite]) async throws(StoreError) -> Set<Int64> {
        let exclusive = gateNeedsExclusiveLock
        let stored = try await readGate(lock: true, shared: !exclusive)
        let claims = writes.filter(\.isClaim).map(\.record.id)
        switch stored.gate.allowance(now: stored.now, probeInFlight: false) {
        case .any:
            gateNeedsExclusiveLock = false
            return []
        case .none:
            return Set(claims)
        case .probe:
            let locked = exclusive ? true : try await lockGateWithoutWaiting()
            guard locked else {
                gateNeedsExclusiveLock = true
                return Set(claims)
            }
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

    /// The gate's exclusive lock, if no other transaction holds the gate: never waited for.
    private func lockGateWithoutWaiting() async throws(StoreError) -> Bool {
        try await session.rows("SAVEPOINT gate_probe")
        do {
            try await session.rows("SELECT 1 FROM sending_gate WHERE id = 1 FOR UPDATE NOWAIT")
            return true
        } catch .server {
            // lock_not_available: another daemon's commit holds it.
            try await session.rows("ROLLBACK TO SAVEPOINT gate_probe")
            return false
        }
    }

    /// The commit's mark (`markCommit`), and the probe freed when its job was answered (or
    /// rescued) in this commit: one round trip.
    func markCommit(_ token: String, releasingProbeOf landed: [Int64]) async throws(StoreError) {
        guard !landed.isEmpty else { return try await markCommit(token) }
        var binds = PostgresBindings()
        binds.append(token)
        binds.append(node)
        binds.append(landed)
        try await session.rows(
            PostgresQuery(
                unsafeSQL: """
                    WITH probe AS (
                        UPDATE sending_gate SET probe_owner = NULL, probe_job = NULL, probe_until = NULL
                        WHERE id = 1 AND probe_job = ANY($3) AND probe_job IS NOT NULL
                    )
                    UPDATE cancelq_daemons SET last_commit = $1, heartbeat_at = cancelq_now() WHERE node = $2
                    """, binds: binds))
    }
}

extension PostgresBindings {
    /// The job's columns a write sets, in table order: state, attempt_count, request_count, due_at,
    /// outcome, last_status, last_code, last_error, updated_at, interruptions, owner.
    mutating func appendJobColumns(of record: JobRecord, now: Double, owner: String?) {
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
    mutating func append(_ result: AttemptResult) {
        append(result.httpStatus)
        append(result.status)
        append(result.code)
        append(result.error)
        append(result.counted)
    }
}
