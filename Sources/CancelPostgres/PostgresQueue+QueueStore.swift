import CancelCore
import CancelQueue
import Foundation
import PostgresNIO
import ZeusAPI

/// What the run loop asks of a store, on PostgreSQL. The reads that lead to a write and the commit
/// run in a turn (PostgresQueue+Turn.swift), whose transaction ends with the closure.
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
        } catch .server(_, _, Self.alreadyEnqueued, _) {
            // Another insert of the same order committed between the check and this row.
        }
        guard let record = try await job(orderNumber: orderNumber) else {
            throw .server(location: location, message: "the row vanished after its insert", constraint: nil)
        }
        return EnqueueResult(record: record, created: created)
    }

    /// The duplicate guard's (and the unique constraint's) name.
    static let alreadyEnqueued: String? = "order_number_already_enqueued"

    public func nextDueTime() async throws(StoreError) -> Double? {
        // Not min(due_at): an aggregate reads every waiting row; the index in order stops at the first.
        try await session.rows(
            PostgresQuery(
                unsafeSQL: "SELECT due_at FROM cancellations WHERE state IN \(State.awaitingSendSQL) AND due_at IS NOT NULL ORDER BY due_at, id LIMIT 1")
        ).first?.value(0)
    }

    public func hasUnfinishedJobs() async throws(StoreError) -> Bool {
        try await session.rows(
            PostgresQuery(unsafeSQL: "SELECT EXISTS (SELECT 1 FROM cancellations WHERE state IN \(State.unfinishedSQL) AND id > 0)")
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
        try await session.transaction { () async throws(StoreError) in
            _ = try await readGate(lock: true)  // the gate's locks, as every writer of it takes them
            try await writeGate(gate, now: now)
        }
    }

    /// A turn's commit (`PostgresTurn.commit`): in the transaction its reads opened, or in a new one.
    func commitWrites(_ writes: [JobWrite], gate: SendingGate?, now: Double) async throws(StoreError) -> [TamperedWrite] {
        // A read of this turn may have lost its connection: the turn's writes go in a new transaction.
        session.forgetLostTransaction()
        if let uncertain = uncertainCommit {
            // The previous COMMIT got no answer. Its server process may still be committing
            // (stopped, or waiting for a standby): only once it is gone does the token say for
            // certain. Nothing of this turn is held meanwhile.
            let happened: Bool
            do {
                if let backend = uncertain.backend { try await awaitEnd(of: backend) }
                happened = try await commitHappened(uncertain.token)
            } catch {
                await session.rollback()
                throw error
            }
            uncertainCommit = nil
            if happened {
                writeTransactions += 1
                // A retry of that batch is already durable, and what it reported then stands (a
                // claim it refused must still not be sent). Another batch (the turn after a failed
                // discovery, say) is not: it is written as usual.
                if uncertain.isRetried(by: writes, gate: gate) {
                    let retried = Set(writes.map(\.record.id))
                    return uncertain.report.filter { retried.contains($0.id) }
                }
            }
        }
        guard !writes.isEmpty || gate != nil else {
            try await endTransaction()
            return []
        }
        return try await commitTurn(writes, gate: gate, now: now, token: UUID().uuidString)
    }

    /// The turn in one transaction, which keeps the rows its reads locked: the gate, the claims it
    /// refuses, the writes (in one statement; job by job after a savepoint when that statement
    /// cannot say what it did for each job), their read-back, the probe's release, the commit mark.
    private func commitTurn(_ writes: [JobWrite], gate: SendingGate?, now: Double, token: String) async throws(StoreError)
        -> [TamperedWrite]
    {
        do {
            try await session.begin()
            if let gate { try await mergeGate(gate, now: now) }
            let refusedClaims = writes.contains(where: \.isClaim) ? try await claimsTheGateRefuses(writes) : []
            let allowed = writes.filter { !refusedClaims.contains($0.record.id) }
            var oneStatement: Set<Int64>?
            if !allowed.isEmpty {
                try await session.rows("SAVEPOINT turn_write")
                oneStatement = try await applyInOneStatement(allowed, now: now)
                // Refused, or not one answer per job: undone, and written again job by job below.
                if oneStatement == nil { try await session.rows("ROLLBACK TO SAVEPOINT turn_write") }
            }
            var tampered: [TamperedWrite] = []
            var applied: [JobWrite] = []
            for write in writes {
                if refusedClaims.contains(write.record.id) {
                    tampered.append(GuardedWrite.contended(write, found: "refused by the shared sending gate"))
                    continue
                }
                // The usual case in one round trip; anything else again, in a savepoint, to say why.
                let written: Bool
                if let oneStatement { written = oneStatement.contains(write.record.id) } else { written = try await applyInOneTrip(write, now: now) }
                if written {
                    applied.append(write)
                } else if let found = try await GuardedWrite.applyAlone(write, now: now, steps: PostgresWriteSteps(queue: self), onRefusal: { error in
                    logger.error("job \(write.record.id): its write was refused: \(error)")
                }) {
                    tampered.append(found)
                }
            }
            try await verifyWritten(applied, now: now)
            let landed = writes.filter { $0.expectedState == .sent }.map(\.record.id)
            try await markCommit(token, releasingProbeOf: landed)
            try await endTransaction(token: token, report: tampered, writes: writes, gate: gate)
            writeTransactions += 1
            return tampered
        } catch {
            await session.rollback()
            throw error
        }
    }

    /// Which decision wins when this daemon's gate meets the stored one (another daemon's, an
    /// operator's), written only when it changes the row.
    private func mergeGate(_ gate: SendingGate, now: Double) async throws(StoreError) {
        let stored = try await readGate(lock: true)
        let merged = gate.merged(withStored: stored.gate, approvedAt: stored.approvedAt, now: stored.now)
        if merged != stored.gate { try await writeGate(merged, now: now) }
    }

    public func notifyChanges(_ onChange: @escaping @Sendable () -> Void) -> (any ChangeNotifications)? {
        PostgresListener.start(location: locationURL, logger: logger) { [changes] in
            changes.raise()
            onChange()
        }
    }

    public func makeChangeDetector() throws(StoreError) -> any ChangeDetector { NotificationDetector(flag: changes) }
}

/// Foreign commits on PostgreSQL are announced by NOTIFY: a change is whatever arrived since the
/// last look. Nothing to confirm, and the daemon's own commits do not notify.
struct NotificationDetector: ChangeDetector {
    let flag: ChangeFlag
    mutating func noticed(now: Double) throws(StoreError) -> Bool { flag.take() }
    var isUnconfirmed: Bool { false }
}
