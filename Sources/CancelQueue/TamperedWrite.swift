import CancelCore

/// What became of a write that did not apply as the daemon decided: one of four things, never a
/// combination of flags.
public enum WriteOutcome: Sendable, Equatable {
    /// The job moved as decided, but its attempt row had been completed or removed by another
    /// process: the answer went to a new row (`TamperedWrite.attempt` says where).
    case answerKeptElsewhere
    /// The job's row was not as read (another process changed or removed it): nothing of the job
    /// was written; it keeps what that process set, and the answer is kept aside.
    case skipped
    /// A claim another daemon won, or one the shared gate refused: normal on a shared queue, not
    /// tampering. The request does not leave; the loop rereads the gate and the due jobs.
    case contended
    /// An answer whose attempt had meanwhile been closed as "outcome unknown" (a shared queue's
    /// rescue): the job went on without it, legitimately; the answer is kept in a new row.
    case arrivedAfterRescue
    /// The schema refused the write (a constraint or a trigger, with its message): nothing of the
    /// job was written; the answer is kept aside where the schema lets it.
    case refused(String)
}

/// A write that met a row another process had changed: either the job itself (it keeps what
/// that process set) or only its open attempt row (the job moves on as decided). Either way
/// the answer is in the audit trail, and the rest of the batch commits.
public struct TamperedWrite: Sendable, Equatable {
    public let id: Int64
    public let orderNumber: String
    public let expected: State
    /// The state the row holds now, or nil when the row is gone.
    public let found: String?
    public let outcome: WriteOutcome
    /// Whether the write was a claim: a claim that did not commit must not be sent.
    public let isClaim: Bool
    /// Where the answer went, when the write completes an attempt.
    public let attempt: String?

    public init(write: JobWrite, found: String?, outcome: WriteOutcome, attempt: String?) {
        id = write.record.id
        orderNumber = write.record.orderNumber
        expected = write.expectedState
        self.found = found
        self.outcome = outcome
        isClaim = write.isClaim
        self.attempt = attempt
    }

    /// Whether the job was updated as the daemon decided (only its attempt row had changed).
    public var jobUpdated: Bool { outcome == .answerKeptElsewhere }
    public var contended: Bool { outcome == .contended }
    public var arrivedAfterRescue: Bool { outcome == .arrivedAfterRescue }
    /// Why the schema refused the write, if it did.
    public var refusal: String? {
        if case .refused(let reason) = outcome { return reason }
        return nil
    }
}
