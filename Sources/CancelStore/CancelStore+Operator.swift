import CancelQueue
import Foundation
import CancelCore
import SQLite

/// What operators do by hand, each recorded in `operator_actions` for the audit trail.
extension CancelStore {
    /// Puts `failed` jobs back to `pending` with a fresh attempt budget. Anything else is refused
    /// with the reason; the refusals do not stop the others.
    public func requeue(
        orderNumbers: [String], by operatorName: String = OperatorIdentity.current(), now: Double = QueueClock.now()
    ) throws(StoreError) -> [RequeueResult] {
        try storeErrors {
            try connection.transaction {
                try orderNumbers.map { order in
                    guard let record = try job(orderNumber: order) else {
                        return .refused(orderNumber: order, reason: "no such order in the queue")
                    }
                    return try requeue(record, by: operatorName, now: now)
                }
            }
        }
    }

    /// Requeues every failed job.
    public func requeueAllFailed(by operatorName: String = OperatorIdentity.current(), now: Double = QueueClock.now()) throws(StoreError)
        -> [RequeueResult]
    {
        try storeErrors {
            try connection.transaction {
                let failed = try connection.query(
                    "SELECT \(JobRecord.columns) FROM cancellations WHERE state = \(State.failed.sql) ORDER BY id"
                ) { try JobRecord(row: $0) }
                return try failed.map { try requeue($0, by: operatorName, now: now) }
            }
        }
    }

    private func requeue(_ record: JobRecord, by operatorName: String, now: Double) throws -> RequeueResult {
        var job = record.job
        do {
            _ = try job.requeue()
        } catch {
            return .refused(orderNumber: record.orderNumber, reason: "it is \(record.state.rawValue): \(error.reason)")
        }
        var updated = record
        updated.job = job
        _ = try apply(JobWrite(expectedState: .failed, record: updated), now: now)
        let previous = record.job.outcome?.rawValue
        try connection.run(
            "INSERT INTO operator_actions(at, action, cancellation_id, detail, operator) VALUES (?, 'requeue', ?, ?, ?)",
            now, record.id,
            "was failed (\(previous ?? "-")) after \(record.job.attemptCount) counted attempt(s); fresh attempt budget", operatorName)
        return .requeued(orderNumber: record.orderNumber, previousOutcome: previous)
    }

    /// `cancelq resume` (what it does is `SendingGate.resumed`): returns what the gate was.
    public func resumeSending(by operatorName: String = OperatorIdentity.current(), now: Double = QueueClock.now()) throws(StoreError)
        -> SendingGate
    {
        try storeErrors {
            try connection.transaction {
                let previous = try loadGateNow()
                guard let (resumed, detail) = previous.resumed(now: now) else { return previous }
                try save(resumed, now: now)
                // Paused jobs were due at the pause's end: make them due now.
                try connection.run(
                    "UPDATE cancellations SET due_at = ?, updated_at = ? WHERE state = 'maintenance-paused' AND due_at > ?",
                    now, now, now)
                try connection.run(
                    "INSERT INTO operator_actions(at, action, detail, operator) VALUES (?, 'resume', ?, ?)", now, detail, operatorName)
                return previous
            }
        }
    }
}

/// Withdrawals and approvals: the guard rails of an irreversible operation.
extension CancelStore {
    /// Withdraws each order before its request leaves, as an application's insert into
    /// `cancellation_withdrawals` does (the same trigger makes the job `withdrawn`), and records
    /// the operator. One transaction per order: a refusal does not stop the others.
    public func withdraw(
        orderNumbers: [String], reason: String?, by operatorName: String = OperatorIdentity.current(), now: Double = QueueClock.now()
    ) throws(StoreError) -> [WithdrawResult] {
        var results: [WithdrawResult] = []
        for order in orderNumbers {
            results.append(try withdraw(order, reason: reason, by: operatorName, now: now))
        }
        return results
    }

    private func withdraw(_ order: String, reason: String?, by operatorName: String, now: Double) throws(StoreError) -> WithdrawResult {
        try storeErrors {
            try connection.transaction {
                guard let record = try job(orderNumber: order) else {
                    return .refused(orderNumber: order, reason: "no such order in the queue")
                }
                var job = record.job
                do throws(ImpossibleEvent) {
                    _ = try job.withdraw()
                } catch {
                    return .refused(orderNumber: order, reason: WithdrawResult.tooLate(record.state, error))
                }
                // The insert's trigger is the one place a job becomes withdrawn; it refuses again if
                // the daemon claimed the job since the read above (it cannot: this transaction holds
                // the write lock, but the trigger does not rely on it).
                do {
                    try connection.run(
                        "INSERT INTO cancellation_withdrawals(order_number, reason) VALUES (?, ?)", order, reason)
                } catch let error as SQLiteError {
                    guard let refusal = WithdrawalRefusal(error) else { throw error }
                    return .refused(orderNumber: order, reason: refusal.description)
                }
                try connection.run(
                    """
                    INSERT INTO operator_actions(at, action, cancellation_id, detail, operator)
                    VALUES (?, 'withdraw', ?, ?, ?)
                    """, now, record.id, "was \(record.state.rawValue); \(reason.map { "reason: \($0)" } ?? "no reason given")",
                    operatorName)
                return .withdrawn(orderNumber: order, previousState: record.state)
            }
        }
    }

    /// What `cancelq approve` would release now: nil when sending is not held.
    public func heldBacklog() throws(StoreError) -> HeldBacklog? {
        try storeErrors {
            try connection.transaction(.deferred) {
                guard case .held(let surge, let since) = try loadGateNow() else { return nil }
                return HeldBacklog(surge: surge, since: since, waiting: try waitingJobs())
            }
        }
    }

    private func waitingJobs() throws -> WaitingJobs {
        try connection.queryOne(WaitingJobs.sql) { WaitingJobs(count: $0.int(0), highestID: $0.int64(1), idSum: $0.int64(2)) }
            ?? WaitingJobs(count: 0, highestID: 0, idSum: 0)
    }

    /// `cancelq approve`: releases a surge hold, exactly the jobs in `shown` (see `ApproveResult.approval(of:)`).
    /// The write lock taken first keeps every insert out between the count and the commit.
    public func approve(
        shown: HeldBacklog? = nil, by operatorName: String = OperatorIdentity.current(), now: Double = QueueClock.now()
    ) throws(StoreError) -> ApproveResult {
        try storeErrors {
            try connection.transaction(.immediate) {
                var gate = try loadGateNow()
                let result = ApproveResult.approval(of: gate, counted: try waitingJobs(), shown: shown, approvedAt: now)
                guard case .released(let released) = result else { return result }
                gate.approve()
                try save(gate, now: now)
                try connection.run("UPDATE sending_gate SET approved_at = ? WHERE id = 1", released.approvedAt)
                try connection.run(
                    "INSERT INTO operator_actions(at, action, detail, operator) VALUES (?, 'approve', ?, ?)", now,
                    released.held.approvalDetail(approvedAt: released.approvedAt), operatorName)
                return result
            }
        }
    }
}

extension WithdrawalRefusal {
    init?(_ error: SQLiteError) { self.init(message: error.message) }
}
