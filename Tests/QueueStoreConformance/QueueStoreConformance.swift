import CancelCore
import CancelStore
import Foundation
import Testing
import ZeusAPI

/// The behaviour every `QueueStore` must show, written against the protocol only. Each check
/// takes a fresh, empty, migrated store; `SQLiteConformanceTests` runs them on SQLite, and the
/// PostgreSQL store runs the same checks.
public enum QueueStoreConformance {
    public static let t0 = CancelStore.currentTime()

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
    public static func answered(_ write: JobWrite, at now: Double) throws -> JobWrite {
        var job = write.record.job
        var random = SystemRandomNumberGenerator()
        let decision = try job.handle(.answered(.success()), gate: .open, policy: .standard, now: now, random: &random)
        var updated = write.record
        updated.job = job
        updated.lastStatus = "success"
        updated.lastCode = "000"
        return JobWrite(
            expectedState: .sent, record: updated,
            attempt: .complete(
                number: updated.requestCount, at: now,
                result: AttemptResult(httpStatus: 200, status: "success", code: "000", counted: decision.countsAttempt)))
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

    public static func theGateIsKeptInEveryMode(_ store: any QueueStore) async throws {
        #expect(try await store.loadGate() == .open)
        let gates: [SendingGate] = [
            .paused(until: t0 + 300, streak: 2, since: t0 - 10),
            .halted(.credentialsRejected(code: "02130210"), since: t0),
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

