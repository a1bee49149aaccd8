import CancelCore

/// What a driver offers the operators' commands: narrow SQL operations, each inside a transaction
/// the driver opens and closes around one closure. The rules (what a requeue, a resume, a
/// withdrawal or an approval does, and what each records) are written once, above the drivers, in
/// `OperatorCommands.swift`; a driver only runs SQL.
public protocol OperatorDriver: AnyObject {
    /// Where the queue lives, for messages.
    var location: String { get }
    /// One write transaction: committed when `body` returns, rolled back when it throws. `now`
    /// fixes the time to record (tests); nil takes the queue's clock (the server's on PostgreSQL).
    func operatorWrite<T>(now: Double?, _ body: (any OperatorTransaction) async throws(StoreError) -> T) async throws(StoreError) -> T
    /// One consistent read-only snapshot; nothing it runs can write.
    func operatorRead<T>(_ body: (any OperatorTransaction) async throws(StoreError) -> T) async throws(StoreError) -> T
}

/// The operations a transaction of an operator's command is made of, each one statement or two.
public protocol OperatorTransaction {
    /// The time to record: the fixed time given, else the queue's clock, read now.
    func now() async throws(StoreError) -> Double
    /// The job of `orderNumber`, locked against the daemons' writes until the transaction ends.
    func lockedJob(orderNumber: String) async throws(StoreError) -> JobRecord?
    /// Every job in `state`, by id, locked like `lockedJob`.
    func lockedJobs(in state: State) async throws(StoreError) -> [JobRecord]
    /// The stored gate, locked for a change in a write transaction.
    func gate() async throws(StoreError) -> SendingGate
    /// Stores the gate (its row re-created if it was deleted).
    func writeGate(_ gate: SendingGate, now: Double) async throws(StoreError)
    /// Records when the last approval was given: the next surge counts from there.
    func writeApprovedAt(_ at: Double) async throws(StoreError)
    /// The job's new state, guarded by the state it was read in: false when the row no longer is
    /// in `write.expectedState` (nothing written).
    func write(_ write: JobWrite, now: Double) async throws(StoreError) -> Bool
    /// Jobs paused for maintenance were due at the pause's end: makes them due at `now`.
    func makePausedJobsDue(now: Double) async throws(StoreError)
    /// The application's own withdrawal statement; the schema's trigger makes the job withdrawn or
    /// refuses by name, and that refusal is returned (the transaction goes on).
    func insertWithdrawal(orderNumber: String, reason: String?) async throws(StoreError) -> WithdrawalRefusal?
    /// The jobs a hold keeps back, as `WaitingJobs.sql` counts them.
    func waitingJobs() async throws(StoreError) -> WaitingJobs
    /// Keeps every application's insert out until the commit, after waiting for those already
    /// open (ids and times are given before an insert commits). false when that wait ran out.
    func shutOutInserts() async throws(StoreError) -> Bool
    /// One line of the audit trail in `operator_actions`, at the time the command wrote its change.
    func recordAction(_ action: OperatorActionKind, job: Int64?, operator who: String, detail: String, at: Double) async throws(StoreError)

    // The audit trail of one job, for `status --order`.
    func attempts(ofJob id: Int64) async throws(StoreError) -> [OrderTimeline.Attempt]
    func operatorActions(onJob id: Int64) async throws(StoreError) -> [OrderTimeline.OperatorAction]
    func withdrawals(ofOrder orderNumber: String) async throws(StoreError) -> [OrderTimeline.Withdrawal]
}

/// What `operator_actions.action` records, the same words on both drivers.
public enum OperatorActionKind: String, Sendable {
    case requeue, resume, withdraw, approve
}

/// A queue as the commands see it, whichever driver holds it: what `cancelq`'s factory opens.
public protocol CommandQueue: QueueStore, OperatorDriver {
    /// `cancelq status`, on the queue's clock (the server's on PostgreSQL).
    func statusReport(startOfDay: Double, thresholds: HealthThresholds) async throws(StoreError) -> StatusReport
    /// Closes the connection (nothing to do where closing is releasing the object).
    func close() async
}
