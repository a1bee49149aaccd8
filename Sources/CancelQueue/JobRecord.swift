import CancelCore

/// One row of `cancellations`, with the state machine's view of it.
public struct JobRecord: Hashable, Sendable {
    public let id: Int64
    public var job: CancellationJob
    /// HTTP requests sent so far (rows in `cancellation_attempts`).
    public var requestCount: Int
    public var lastStatus: String?
    public var lastCode: String?
    public var lastError: String?
    public let createdAt: Double
    public var updatedAt: Double
    /// The daemon whose request is in flight (PostgreSQL's `owner`); nil on SQLite.
    public var owner: String?

    public var orderNumber: String { job.orderNumber }
    public var state: State { job.state }

    public static let columns = """
        id, order_number, paid_at, state, attempt_count, request_count, due_at, outcome,
        last_status, last_code, last_error, created_at, updated_at, interruptions,
        (SELECT coalesce(max(attempt), 0) FROM cancellation_attempts WHERE cancellation_id = cancellations.id),
        (SELECT max(CASE WHEN result_status = 'success' AND result_code = '000' THEN 2
                         WHEN result_status = 'invalid' AND result_code = '02180118' THEN 1 ELSE 0 END)
         FROM cancellation_attempts WHERE cancellation_id = cancellations.id)
        """

    /// Counts beyond this are an edited row, not history: clamped so arithmetic cannot overflow.
    public static let countLimit = 1_000_000_000

    /// A row as any store reads it (the columns of `columns`, in order). `lastAttempt` is the highest
    /// attempt number in the audit trail; `confirmation` 2 when it holds a success `000`, 1 an
    /// "already cancelled", else 0 or nil. `owner`: the daemon holding the job in flight (PostgreSQL).
    public init(
        id: Int64, orderNumber: String, paidAt: Double?, state stateText: String, attemptCount: Int, requestCount: Int,
        dueAt: Double?, outcome outcomeText: String?, lastStatus: String?, lastCode: String?, lastError: String?,
        createdAt: Double, updatedAt: Double, interruptions: Int, lastAttempt: Int, confirmation: Int?, owner: String? = nil
    ) throws(StoreError) {
        let state = try stored(stateText, as: State.self, column: "cancellations.state")
        let outcome = try outcomeText.map { raw throws(StoreError) in
            try stored(raw, as: Outcome.self, column: "cancellations.outcome")
        }
        self.id = id
        // A non-finite time (an edited row) reads as the epoch: due at once, and never early,
        // because the state machine checks the delay from the payment time at every send.
        func time(_ value: Double?) -> Double? { value.map { $0.isFinite ? $0 : 0 } }
        func count(_ value: Int) -> Int { min(max(value, 0), Self.countLimit) }
        self.createdAt = time(createdAt) ?? 0
        job = CancellationJob(
            orderNumber: orderNumber, paidAt: time(paidAt), enqueuedAt: self.createdAt, state: state,
            attemptCount: count(attemptCount), dueAt: time(dueAt), outcome: outcome, interruptions: count(interruptions),
            confirmed: [2: .cancelled, 1: .alreadyCancelled][confirmation ?? 0])
        // The audit trail wins over an edited request_count: the next attempt number is always free.
        self.requestCount = max(count(requestCount), count(lastAttempt))
        self.lastStatus = lastStatus
        self.lastCode = lastCode
        self.lastError = lastError
        self.updatedAt = time(updatedAt) ?? 0
        self.owner = owner
    }
}

/// A change to one job, written together with others in one transaction.
public struct JobWrite: Sendable {
    /// The state the row must still be in: a guard against a second writer.
    public var expectedState: State
    public var record: JobRecord
    public var attempt: AttemptWrite?
    /// The attempt row is written only with the job's change: a rescue's "outcome unknown" means
    /// nothing once the job moved on (an answer landed first), unlike a real answer, always kept.
    public var attemptOnlyWithJob: Bool

    public init(expectedState: State, record: JobRecord, attempt: AttemptWrite? = nil, attemptOnlyWithJob: Bool = false) {
        self.expectedState = expectedState
        self.record = record
        self.attempt = attempt
        self.attemptOnlyWithJob = attemptOnlyWithJob
    }

    /// The same write with its attempt's start moved to `time` (a claim whose commit was delayed).
    public func restarted(at time: Double) -> JobWrite {
        guard case .start(let number, _) = attempt else { return self }
        return JobWrite(
            expectedState: expectedState, record: record, attempt: .start(number: number, at: time),
            attemptOnlyWithJob: attemptOnlyWithJob)
    }

    /// Whether this write opens an attempt: the request leaves only if it commits.
    public var isClaim: Bool {
        if case .start = attempt { return true }
        return false
    }
}

/// A row of the audit trail: opened before the request leaves, completed with what came back.
public enum AttemptWrite: Sendable, Equatable {
    case start(number: Int, at: Double)
    case complete(number: Int, at: Double, result: AttemptResult)
}

public struct AttemptResult: Sendable, Equatable {
    public var httpStatus: Int?
    public var status: String?
    public var code: String?
    public var error: String?
    /// Whether it counted against the attempt limit.
    public var counted: Bool

    public init(httpStatus: Int? = nil, status: String? = nil, code: String? = nil, error: String? = nil, counted: Bool) {
        self.httpStatus = httpStatus
        self.status = status
        self.code = code
        self.error = error
        self.counted = counted
    }
}

/// How the daemon's audit rows begin when a request's outcome is unknown (a restart's recovery, a
/// rescue by another daemon): `status` counts them, and a store recognises a rescued attempt.
public enum AttemptNotes {
    public static let outcomeUnknownPrefix = "outcome unknown"
}
