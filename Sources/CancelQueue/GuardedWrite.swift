import CancelCore

/// The statements a guarded write is made of, offered by each driver (inside the commit's
/// transaction). What happens when a write meets a row changed behind the daemon's back is
/// decided once, in `GuardedWrite`.
public protocol GuardedWriteSteps {
    /// This daemon's name where daemons share the queue and own their claims; nil where one
    /// daemon holds the queue alone.
    var node: String? { get }
    /// Runs `body` in a savepoint: a throw undoes exactly what `body` wrote and is rethrown as it
    /// was (a lost connection or a transaction the database rolled back is not undone to a
    /// savepoint: the error goes up and the whole commit is retried).
    func inSavepoint<T>(_ body: () async throws(StoreError) -> T) async throws(StoreError) -> T
    /// Locks the job's row for the rest of the transaction, before its attempt rows (the order
    /// every writer of the queue takes them in).
    func lockJob(_ id: Int64) async throws(StoreError)
    /// The job's new columns, guarded by the state (and, where claims are owned, the owner) it
    /// was read with. false when the row is not so any more: nothing was written.
    func updateJob(_ write: JobWrite, now: Double) async throws(StoreError) -> Bool
    /// Opens attempt `number` (a claim's request is about to leave).
    func openAttempt(job id: Int64, number: Int, at: Double) async throws(StoreError)
    /// Completes attempt `number` with its answer; false when it is missing or already completed.
    func completeAttempt(job id: Int64, number: Int, at: Double, result: AttemptResult) async throws(StoreError) -> Bool
    /// Writes the answer as the job's next attempt row, numbered under the job's lock; its number.
    func appendAttempt(job id: Int64, at: Double, result: AttemptResult, error: String) async throws(StoreError) -> Int?
    /// The job's state now and, where claims are owned, who holds it; nil when the row is gone.
    func current(job id: Int64) async throws(StoreError) -> (state: String, owner: String?)?
    /// Whether attempt `number` was closed as "outcome unknown" (by a rescue) before its answer.
    func closedAsUnknown(job id: Int64, attempt number: Int) async throws(StoreError) -> Bool
    /// Whether `error` is the schema refusing this one write (a constraint or a trigger), which
    /// sets the write aside; any other error stops the commit.
    func isRefusal(_ error: StoreError) -> Bool
}

/// The guarded-write policy, the same on every driver: a write that meets a changed row undoes
/// only itself, and its answer still goes into the audit trail.
public enum GuardedWrite {
    /// Applies `write` alone, in a savepoint. nil when it applied as decided; else what became of it.
    public static func applyAlone(
        _ write: JobWrite, now: Double, steps: some GuardedWriteSteps, onRefusal: (StoreError) -> Void = { _ in }
    ) async throws(StoreError) -> TamperedWrite? {
        var refusal: StoreError?
        do {
            let note = try await steps.inSavepoint { () async throws(StoreError) -> String? in try await apply(write, now: now, steps: steps) }
            return note.map { TamperedWrite(write: write, found: write.record.state.rawValue, outcome: .answerKeptElsewhere, attempt: $0) }
        } catch {
            switch error {
            case .jobChangedUnderneath:
                break
            case _ where steps.isRefusal(error):
                onRefusal(error)
                refusal = error
            default:
                throw error
            }
        }
        let current = try await steps.current(job: write.record.id)
        if refusal == nil, write.isClaim, current?.state == State.sent.rawValue, let owner = current?.owner, owner != steps.node {
            // Another daemon claimed it first (possible after a reconnect): not tampering.
            return contended(write, found: "sent by \(owner)")
        }
        return try await recordAside(write, now: now, found: current?.state, refusal: refusal, steps: steps, onRefusal: onRefusal)
    }

    /// A claim that did not go ahead for a reason that is not tampering.
    public static func contended(_ write: JobWrite, found: String) -> TamperedWrite {
        TamperedWrite(write: write, found: found, outcome: .contended, attempt: nil)
    }

    /// Applies one write; a note when the answer had to go to a new attempt row. The answer is
    /// recorded before the job's new state (a schema may let a job become `succeeded` only on an
    /// attempt row holding the gateway's confirmation); the savepoint undoes both when the job
    /// moved underneath.
    static func apply(_ write: JobWrite, now: Double, steps: some GuardedWriteSteps) async throws(StoreError) -> String? {
        let id = write.record.id
        try await steps.lockJob(id)
        var note: String?
        if case .complete(let number, let at, let result) = write.attempt {
            note = try await recordAnswer(job: id, number: number, at: at, result: result, jobExists: true, steps: steps)
        }
        guard try await steps.updateJob(write, now: now) else {
            throw StoreError.jobChangedUnderneath(id: id, expected: write.expectedState)
        }
        if case .start(let number, let at) = write.attempt { try await steps.openAttempt(job: id, number: number, at: at) }
        return note
    }

    /// The job's row was not updated: its answer still goes into the audit trail, in a savepoint of
    /// its own (a schema that refuses the answer too leaves the rest of the turn standing).
    static func recordAside(
        _ write: JobWrite, now: Double, found: String?, refusal: StoreError?, steps: some GuardedWriteSteps,
        onRefusal: (StoreError) -> Void
    ) async throws(StoreError) -> TamperedWrite {
        let refused = refusal.map { WriteOutcome.refused("\($0)") }
        guard case .complete(let number, let at, let result) = write.attempt, !write.attemptOnlyWithJob else {
            return TamperedWrite(write: write, found: found, outcome: refused ?? .skipped, attempt: nil)
        }
        var rescued = false
        var attempt: String
        do {
            (rescued, attempt) = try await steps.inSavepoint { () async throws(StoreError) -> (Bool, String) in
                let rescued = try await steps.closedAsUnknown(job: write.record.id, attempt: number)
                let kept = try await recordAnswer(
                    job: write.record.id, number: number, at: at, result: result, jobExists: found != nil, steps: steps)
                return (rescued, kept ?? "recorded in attempt \(number)")
            }
        } catch {
            guard steps.isRefusal(error) else { throw error }
            onRefusal(error)
            attempt = "NOT recorded in the database (the schema refused it: \(error)): only this log line keeps it"
        }
        return TamperedWrite(write: write, found: found, outcome: refused ?? (rescued ? .arrivedAfterRescue : .skipped), attempt: attempt)
    }

    /// Completes attempt `number`; when another process completed or removed it meanwhile (a
    /// rescue said "outcome unknown"), the answer becomes a new attempt row. nil when completed in place.
    static func recordAnswer(
        job id: Int64, number: Int, at: Double, result: AttemptResult, jobExists: Bool, steps: some GuardedWriteSteps
    ) async throws(StoreError) -> String? {
        if try await steps.completeAttempt(job: id, number: number, at: at, result: result) { return nil }
        guard jobExists else { return "NOT recorded in the database (the job row is gone): only this log line keeps it" }
        let error = [result.error, "attempt row \(number) was missing or already completed when this answer arrived"]
            .compactMap { $0 }.joined(separator: "; ")
        let next = try await steps.appendAttempt(job: id, at: at, result: result, error: error)
        return "recorded as attempt \(next.map(String.init) ?? "?") (row \(number) was missing or already completed)"
    }
}
