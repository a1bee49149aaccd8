import CancelCore
import CancelQueue
import SQLite

/// The operators' commands on SQLite: the SQL only; what each command does is in
/// `CancelQueue/OperatorCommands.swift`. A write takes the write lock first (`BEGIN IMMEDIATE`),
/// which keeps every other writer out until the commit: the reads need no row locks.
extension CancelStore: OperatorDriver {
    public func operatorWrite<T>(now: Double?, _ body: (any OperatorTransaction) async throws(StoreError) -> T) async throws(StoreError) -> T {
        try await transaction(.immediate) { () async throws(StoreError) -> T in
            try await body(SQLiteOperatorTransaction(store: self, fixedTime: now))
        }
    }

    public func operatorRead<T>(_ body: (any OperatorTransaction) async throws(StoreError) -> T) async throws(StoreError) -> T {
        try await transaction(.deferred) { () async throws(StoreError) -> T in
            try await body(SQLiteOperatorTransaction(store: self, fixedTime: nil))
        }
    }
}

struct SQLiteOperatorTransaction: OperatorTransaction {
    let store: CancelStore
    let fixedTime: Double?
    private var connection: Connection { store.connection }

    func now() -> Double { fixedTime ?? QueueClock.now() }

    func lockedJob(orderNumber: String) throws(StoreError) -> JobRecord? {
        try store.job(orderNumber: orderNumber)
    }

    func lockedJobs(in state: State) throws(StoreError) -> [JobRecord] {
        try storeErrors {
            try connection.query("SELECT \(JobRecord.columns) FROM cancellations WHERE state = ? ORDER BY id", [state.rawValue]) {
                try JobRecord(row: $0)
            }
        }
    }

    func gate() throws(StoreError) -> SendingGate { try store.loadGateNow() }

    func writeGate(_ gate: SendingGate, now: Double) throws(StoreError) {
        try storeErrors { try store.save(gate, now: now) }
    }

    func writeApprovedAt(_ at: Double) throws(StoreError) {
        try storeErrors { _ = try connection.run("UPDATE sending_gate SET approved_at = ? WHERE id = 1", at) }
    }

    func write(_ write: JobWrite, now: Double) throws(StoreError) -> Bool {
        try SQLiteWriteSteps(connection: connection).updateJob(write, now: now)
    }

    func makePausedJobsDue(now: Double) throws(StoreError) {
        try storeErrors {
            _ = try connection.run(
                "UPDATE cancellations SET due_at = ?, updated_at = ? WHERE state = \(State.maintenancePaused.sql) AND due_at > ?",
                now, now, now)
        }
    }

    func insertWithdrawal(orderNumber: String, reason: String?) throws(StoreError) -> WithdrawalRefusal? {
        do {
            _ = try connection.run("INSERT INTO cancellation_withdrawals(order_number, reason) VALUES (?, ?)", orderNumber, reason)
            return nil
        } catch {
            // The trigger's RAISE undoes the statement only; the transaction goes on.
            guard let refusal = WithdrawalRefusal(message: error.message) else { throw .database(DatabaseFailure(error)) }
            return refusal
        }
    }

    func waitingJobs() throws(StoreError) -> WaitingJobs {
        try storeErrors {
            try connection.queryOne(WaitingJobs.sql) { WaitingJobs(count: $0.int(0), highestID: $0.int64(1), idSum: $0.int64(2)) }
        } ?? WaitingJobs(count: 0, highestID: 0, idSum: 0)
    }

    /// The write lock `BEGIN IMMEDIATE` took already keeps every insert out.
    func shutOutInserts() -> Bool { true }

    func recordAction(_ action: OperatorActionKind, job: Int64?, operator who: String, detail: String, at: Double) throws(StoreError) {
        try storeErrors {
            _ = try connection.run(
                "INSERT INTO operator_actions(at, action, cancellation_id, detail, operator) VALUES (?, ?, ?, ?, ?)",
                at, action.rawValue, job, detail, who)
        }
    }

    func attempts(ofJob id: Int64) throws(StoreError) -> [OrderTimeline.Attempt] {
        try storeErrors {
            try connection.query(
                """
                SELECT attempt, started_at, completed_at, http_status, result_status, result_code, error, counted
                FROM cancellation_attempts WHERE cancellation_id = ? ORDER BY attempt
                """, [id]
            ) {
                OrderTimeline.Attempt(
                    attempt: $0.int(0), startedAt: $0.double(1), completedAt: $0.optionalDouble(2),
                    httpStatus: $0.optionalInt(3), status: $0.optionalString(4), code: $0.optionalString(5),
                    error: $0.optionalString(6), counted: $0.optionalInt(7).map { $0 == 1 })
            }
        }
    }

    func operatorActions(onJob id: Int64) throws(StoreError) -> [OrderTimeline.OperatorAction] {
        try storeErrors {
            try connection.query("SELECT at, action, detail, operator FROM operator_actions WHERE cancellation_id = ? ORDER BY id", [id]) {
                OrderTimeline.OperatorAction(
                    at: $0.double(0), action: $0.string(1), detail: $0.optionalString(2), operator: $0.optionalString(3))
            }
        }
    }

    func withdrawals(ofOrder orderNumber: String) throws(StoreError) -> [OrderTimeline.Withdrawal] {
        try storeErrors {
            try connection.query("SELECT at, reason FROM cancellation_withdrawals WHERE order_number = ? ORDER BY id", [orderNumber]) {
                OrderTimeline.Withdrawal(at: $0.double(0), reason: $0.optionalString(1))
            }
        }
    }
}

extension CancelStore: CommandQueue {
    public func statusReport(startOfDay: Double, thresholds: HealthThresholds) throws(StoreError) -> StatusReport {
        try statusReport(now: QueueClock.now(), startOfDay: startOfDay, thresholds: thresholds)
    }

    public func close() {}
}
