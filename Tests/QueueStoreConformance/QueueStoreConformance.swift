import CancelCore
import CancelQueue
import Foundation
import Testing
import ZeusAPI

/// The behaviour every `QueueStore` must show, written against the protocol only. Each check
/// takes a fresh, empty, migrated store; `SQLiteConformanceTests` runs them on SQLite, and the
/// PostgreSQL store runs the same checks.
public enum QueueStoreConformance {
    public static let t0 = QueueClock.now()

    /// A job moved from pending to waiting-delay as the daemon does, due at `due`.
    public static func discovered(_ record: JobRecord, due: Double) throws -> JobWrite {
        var job = record.job
        var random = SystemRandomNumberGenerator()
        let policy = try RetryPolicy(delayAfterPayment: max(5, due - (record.job.paymentTime)), jitter: 0)
        _ = try job.handle(.discovered, gate: .open, policy: policy, now: t0, random: &random)
        var updated = record
        updated.job = job
        return JobWrite(expectedState: .pending, record: updated)
    }

    /// A due job claimed: `sent` with its attempt row opened.
    public static func claimed(_ record: JobRecord, at now: Double) throws -> JobWrite {
        var job = record.job
        var random = SystemRandomNumberGenerator()
        _ = try job.handle(.due, gate: .open, policy: try RetryPolicy(jitter: 0), now: now, random: &random)
        var updated = record
        updated.job = job
        updated.requestCount += 1
        return JobWrite(expectedState: record.state, record: updated, attempt: .start(number: updated.requestCount, at: now))
    }

    /// A claimed job answered `success/000`.
    public static func answered(_ write: JobWrite, at now: Double, with answer: GatewayAnswer = .success()) throws -> JobWrite {
        var job = write.record.job
        var random = SystemRandomNumberGenerator()
        let decision = try job.handle(.answered(answer), gate: .open, policy: .standard, now: now, random: &random)
        var updated = write.record
        updated.job = job
        updated.lastStatus = answer.status
        updated.lastCode = answer.code
        return JobWrite(
            expectedState: .sent, record: updated,
            attempt: .complete(
                number: updated.requestCount, at: now,
                result: AttemptResult(httpStatus: 200, status: answer.status, code: answer.code, counted: decision.countsAttempt)))
    }

    public static func newJobsOldestFirstAndIdempotentEnqueue(_ store: any QueueStore) async throws {
        let first = try await store.enqueue(orderNumber: "C-1", paidAt: t0 - 60)
        _ = try await store.enqueue(orderNumber: "C-2", paidAt: nil)
        let again = try await store.enqueue(orderNumber: "C-1", paidAt: t0 - 1)
        #expect(first.created && !again.created && again.record.id == first.record.id)
        #expect(again.record.job.paidAt == t0 - 60, "a second enqueue must not rewrite the first")
        #expect(try await store.newJobs(limit: 10).map(\.orderNumber) == ["C-1", "C-2"])
        #expect(try await store.newJobs(limit: 1).map(\.orderNumber) == ["C-1"])
        await #expect(throws: StoreError.self) { try await store.enqueue(orderNumber: "has space", paidAt: nil) }
    }

    public static func dueJobsEarliestFirstAndNextDueTime(_ store: any QueueStore) async throws {
        for order in ["D-1", "D-2", "D-3"] { _ = try await store.enqueue(orderNumber: order, paidAt: t0 - 60) }
        let new = try await store.newJobs(limit: 10)
        let dues = [t0 + 30, t0 - 5, t0 - 10]
        let writes = try zip(new, dues).map { try discovered($0, due: $1) }
        #expect(try await store.commit(writes, gate: nil, now: t0).isEmpty)
        #expect(try await store.newJobs(limit: 10).isEmpty)
        #expect(try await store.nextDueTime() == t0 - 10)
        #expect(try await store.dueJobs(now: t0, limit: 10).map(\.orderNumber) == ["D-3", "D-2"])
        #expect(try await store.dueJobs(now: t0, limit: 1).map(\.orderNumber) == ["D-3"])
        #expect(try await store.hasUnfinishedJobs())
    }

    public static func claimThenAnswerKeepsTheAuditTrail(_ store: any QueueStore) async throws {
        _ = try await store.enqueue(orderNumber: "A-1", paidAt: t0 - 60)
        let new = try await store.newJobs(limit: 1)
        _ = try await store.commit([try discovered(new[0], due: t0 - 50)], gate: nil, now: t0)
        let due = try await store.dueJobs(now: t0, limit: 1)
        let claim = try claimed(due[0], at: t0)
        _ = try await store.commit([claim], gate: nil, now: t0)
        // A restart now would find it interrupted.
        #expect(try await store.interruptedJobs().map(\.orderNumber) == ["A-1"])
        #expect(try await store.dueJobs(now: t0 + 1000, limit: 10).isEmpty, "a job in flight is never due")
        _ = try await store.commit([try answered(claim, at: t0 + 1)], gate: nil, now: t0 + 1)
        #expect(try await store.interruptedJobs().isEmpty)
        #expect(try await store.hasUnfinishedJobs() == false)
        #expect(try await store.nextDueTime() == nil)
    }

    public static func aJobChangedUnderneathIsSkippedAloneAndItsAnswerKept(_ store: any QueueStore, tamper: (Int64) throws -> Void) async throws {
        for order in ["T-1", "T-2"] { _ = try await store.enqueue(orderNumber: order, paidAt: t0 - 60) }
        let new = try await store.newJobs(limit: 10)
        _ = try await store.commit(try new.map { try discovered($0, due: t0 - 50) }, gate: nil, now: t0)
        let claims = try await store.dueJobs(now: t0, limit: 10).map { try claimed($0, at: t0) }
        _ = try await store.commit(claims, gate: nil, now: t0)
        try tamper(claims[0].record.id)  // another writer moves T-1 out of `sent`
        let tampered = try await store.commit(try claims.map { try answered($0, at: t0 + 1) }, gate: nil, now: t0 + 1)
        #expect(tampered.map(\.orderNumber) == ["T-1"])
        #expect(tampered.first?.jobUpdated == false && tampered.first?.attempt != nil, "\(tampered)")
        #expect(try await store.interruptedJobs().isEmpty, "T-2 committed although T-1 was skipped")
    }

    /// The open attempt row of a job in flight completed by another writer: the job still moves on
    /// as decided, and the answer is kept in a new attempt row, reported with a note. `attempts`
    /// lists a job's attempt rows as (number, completed, error).
    public static func anAnswerWhoseAttemptWasClosedIsKeptInANewRow(
        _ store: any QueueStore, closeAttempt: (Int64) throws -> Void, attempts: (Int64) throws -> [(Int, Bool, String?)]
    ) async throws {
        for order in ["AC-1", "AC-2"] { _ = try await store.enqueue(orderNumber: order, paidAt: t0 - 60) }
        _ = try await store.commit(try await store.newJobs(limit: 10).map { try discovered($0, due: t0 - 50) }, gate: nil, now: t0)
        let claims = try await store.dueJobs(now: t0, limit: 10).map { try claimed($0, at: t0) }
        _ = try await store.commit(claims, gate: nil, now: t0)
        let closed = claims[0].record.id
        try closeAttempt(closed)
        let tampered = try await store.commit(try claims.map { try answered($0, at: t0 + 1) }, gate: nil, now: t0 + 1)
        #expect(tampered.map(\.id) == [closed] && tampered[0].jobUpdated && tampered[0].attempt != nil, "\(tampered)")
        let unfinished = try await store.hasUnfinishedJobs()
        #expect(try await store.interruptedJobs().isEmpty && !unfinished, "both jobs moved on")
        let rows = try attempts(closed)
        #expect(rows.count == 2 && rows.allSatisfy(\.1), "\(rows)")
        #expect(rows.last?.2?.contains("already completed") == true, "the new row says why: \(rows)")
        #expect(try attempts(claims[1].record.id).count == 1, "the other job's answer completed its own row")
    }

    public static func theGateIsKeptInEveryMode(_ store: any QueueStore) async throws {
        #expect(try await store.loadGate() == .open)
        let gates: [SendingGate] = [
            .paused(until: t0 + 300, streak: 2, since: t0 - 10),
            .halted(.credentialsRejected(code: "02130210"), since: t0),
            .held(Surge(enqueued: 1001, window: 3600, holdAbove: 1000, countedFrom: t0 - 3600), since: t0),
            .open,
        ]
        for gate in gates {
            try await store.saveGate(gate, now: t0)
            #expect(try await store.loadGate() == gate)
        }
        // A gate change travels in the same commit as the answers.
        _ = try await store.commit([], gate: .paused(until: t0 + 1, streak: 1, since: t0), now: t0)
        #expect(try await store.loadGate().mode == .paused)
    }

    /// A withdrawal (the store's own SQL, as an application runs it) while a job is pending, and
    /// between the daemon's read of a due job and its claim. `withdraw` returns whether the database
    /// accepted it; it must not wait long for the claim's locks (PostgreSQL's read locks the row, so
    /// there the withdrawal gives up and is refused; SQLite's read locks nothing, so it lands). Either
    /// way no accepted withdrawal is ever claimed.
    @discardableResult
    public static func aWithdrawnJobIsNeverClaimed(_ store: any QueueStore, withdraw: (String) throws -> Bool) async throws -> [Bool] {
        for order in ["WD-1", "WD-2"] { _ = try await store.enqueue(orderNumber: order, paidAt: t0 - 60) }
        let first = try await store.turn { turn in
            let new = try await turn.newJobs(limit: 10)
            let first = try withdraw("WD-1")  // after the discovery's read, before its write
            let skipped = try await turn.commit(try new.map { try discovered($0, due: t0 - 50) }, gate: nil, now: t0)
            #expect(skipped.map(\.orderNumber) == (first ? ["WD-1"] : []), "only an accepted withdrawal stops the discovery")
            return first
        }
        let (second, tampered) = try await store.turn { turn in
            let due = try await turn.dueJobs(now: t0, limit: 10)
            #expect(due.map(\.orderNumber) == (first ? ["WD-2"] : ["WD-1", "WD-2"]))
            let claims = try due.map { try claimed($0, at: t0) }
            let second = try withdraw("WD-2")  // after the claim's read, before its commit
            return (second, try await turn.commit(claims, gate: nil, now: t0))
        }
        let inFlight = try await store.interruptedJobs().map(\.orderNumber)
        if second {
            #expect(tampered.count == 1 && tampered[0].isClaim && !tampered[0].jobUpdated && tampered[0].found == "withdrawn")
            #expect(!inFlight.contains("WD-2"), "a withdrawn job was claimed")
        } else {
            #expect(tampered.isEmpty, "the refused withdrawal changed nothing: \(tampered)")
            #expect(inFlight.contains("WD-2"), "the claim went on")
        }
        #expect(!inFlight.contains("WD-1") || !first, "a withdrawn job was claimed")
        #expect(try await store.nextDueTime() == nil)
        return [first, second]
    }

    /// The surge count: jobs enqueued in the window, at most one past the limit, none from before the
    /// last approval, given through the operators' `approve`, which releases every waiting job.
    public static func theSurgeCountStartsAtTheLastApproval(_ store: any CommandQueue) async throws {
        for index in 0..<5 { _ = try await store.enqueue(orderNumber: "SG-\(index)", paidAt: nil) }
        let now = QueueClock.now()
        let limit = SurgeLimit(holdAbove: 3, window: 600)
        let counted = try await store.enqueuedForSurge(now: now, limit: limit)
        #expect(counted.enqueued == 4 && counted.countedFrom == now - 600)
        #expect(try await store.enqueuedForSurge(now: now + 1200, limit: limit).enqueued == 0, "outside the window")
        try await store.saveGate(.held(try #require(limit.surge(enqueued: 4, countedFrom: now - 600)), since: now), now: now)
        guard case .released(let released) = try await store.approve(by: "conformance", now: now + 0.5) else {
            Issue.record("a held gate was not released")
            return
        }
        #expect(released.backlog == 5 && released.approvedAt == now + 0.5)
        #expect(try await store.loadGate() == .open)
        let after = try await store.enqueuedForSurge(now: now + 1, limit: limit)
        #expect(after.enqueued == 0 && after.countedFrom == now + 0.5)
    }

    public static func aForeignCommitIsNoticed(_ store: any QueueStore, insertElsewhere: () throws -> Void) async throws {
        var detector = try store.makeChangeDetector()
        let notifications = store.notifyChanges {}
        defer { notifications?.stop() }
        // A notification channel that just (re)connected may announce itself once: let it.
        for _ in 0..<50 {
            if try detector.noticed(now: t0) { break }
            try await Task.sleep(nanoseconds: 10_000_000)
        }
        #expect(try detector.noticed(now: t0) == false)
        try insertElsewhere()
        var seen = false
        for step in 0..<300 where !seen {
            seen = try detector.noticed(now: t0 + Double(step) * 0.01)
            if !seen { try await Task.sleep(nanoseconds: 10_000_000) }
        }
        #expect(seen, "another process's insert went unnoticed")
    }
}

