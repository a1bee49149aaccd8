import CancelCore
import CancelQueue
import PostgresNIO

/// The operators' commands on PostgreSQL: the SQL only; what each command does is in
/// `CancelQueue/OperatorCommands.swift`. A write locks the rows it reads (`FOR UPDATE`), the gate
/// through the daemons' fair lock; a read is one REPEATABLE READ snapshot.
extension PostgresQueue: OperatorDriver {
    public func operatorWrite<T>(now: Double?, _ body: (any OperatorTransaction) async throws(StoreError) -> T) async throws(StoreError) -> T {
        try await session.transaction { () async throws(StoreError) -> T in
            try await body(PostgresOperatorTransaction(queue: self, fixedTime: now, locks: true))
        }
    }

    public func operatorRead<T>(_ body: (any OperatorTransaction) async throws(StoreError) -> T) async throws(StoreError) -> T {
        try await session.snapshot { () async throws(StoreError) -> T in
            try await body(PostgresOperatorTransaction(queue: self, fixedTime: nil, locks: false))
        }
    }

    /// How long an approval waits for open transactions on `cancellations` before it gives up.
    static let approvalLockTimeout = "5s"
}

struct PostgresOperatorTransaction: OperatorTransaction {
    let queue: PostgresQueue
    let fixedTime: Double?
    /// A write transaction locks what it reads; a read-only snapshot cannot.
    let locks: Bool
    private var session: PostgresSession { queue.session }

    func now() async throws(StoreError) -> Double {
        if let fixedTime { return fixedTime }
        return try await session.rows("SELECT cancelq_now()").first?.value(0) ?? queue.clock.now()
    }

    func lockedJob(orderNumber: String) async throws(StoreError) -> JobRecord? {
        var binds = PostgresBindings()
        binds.append(orderNumber)
        return try await queue.jobs(where: "order_number = $1" + (locks ? " FOR UPDATE" : ""), binds, lock: false).first
    }

    func lockedJobs(in state: State) async throws(StoreError) -> [JobRecord] {
        try await queue.jobs(where: "state = \(state.sql) ORDER BY id" + (locks ? " FOR UPDATE" : ""), lock: false)
    }

    func gate() async throws(StoreError) -> SendingGate { try await queue.readGate(lock: locks).gate }

    func writeGate(_ gate: SendingGate, now: Double) async throws(StoreError) { try await queue.writeGate(gate, now: now) }

    func writeApprovedAt(_ at: Double) async throws(StoreError) {
        var binds = PostgresBindings()
        binds.append(at)
        try await session.rows(PostgresQuery(unsafeSQL: "UPDATE sending_gate SET approved_at = $1 WHERE id = 1", binds: binds))
    }

    func write(_ write: JobWrite, now: Double) async throws(StoreError) -> Bool {
        try await PostgresWriteSteps(queue: queue).updateJob(write, now: now)
    }

    func makePausedJobsDue(now: Double) async throws(StoreError) {
        var binds = PostgresBindings()
        binds.append(now)
        try await session.rows(
            PostgresQuery(
                unsafeSQL: "UPDATE cancellations SET due_at = $1, updated_at = $1 WHERE state = \(State.maintenancePaused.sql) AND due_at > $1",
                binds: binds))
    }

    func insertWithdrawal(orderNumber: String, reason: String?) async throws(StoreError) -> WithdrawalRefusal? {
        var binds = PostgresBindings()
        binds.append(orderNumber)
        binds.append(reason)
        // In a savepoint: the trigger's refusal undoes the insert only, and the transaction goes on.
        try await session.rows("SAVEPOINT withdrawal")
        do {
            try await session.rows(
                PostgresQuery(unsafeSQL: "INSERT INTO cancellation_withdrawals(order_number, reason) VALUES ($1, $2)", binds: binds))
        } catch {
            guard case .server(_, let message, let constraint, _) = error, let refusal = WithdrawalRefusal(message: constraint ?? message)
            else { throw error }
            try await session.rows("ROLLBACK TO SAVEPOINT withdrawal")
            return refusal
        }
        try await session.rows("RELEASE SAVEPOINT withdrawal")
        return nil
    }

    func waitingJobs() async throws(StoreError) -> WaitingJobs {
        guard let row = try await session.rows(PostgresQuery(unsafeSQL: WaitingJobs.sql)).first else {
            return WaitingJobs(count: 0, highestID: 0, idSum: 0)
        }
        return WaitingJobs(count: Int(try row.value(0, as: Int64.self)), highestID: try row.value(1), idSum: try row.value(2))
    }

    /// Ids and `created_at` are given when a row is inserted, before it commits: an insert still
    /// open would be invisible to the count. The SHARE lock waits for every such transaction and
    /// keeps new ones out until the commit; READ COMMITTED reads a new snapshot per statement, so
    /// the count after it sees every row. In a savepoint, so that a lock timeout (55P03) leaves the
    /// transaction usable and nothing is approved.
    func shutOutInserts() async throws(StoreError) -> Bool {
        try await session.rows("SAVEPOINT shut_out_inserts")
        do {
            try await session.rows(PostgresQuery(unsafeSQL: "SET LOCAL lock_timeout = '\(PostgresQueue.approvalLockTimeout)'"))
            try await session.rows("LOCK TABLE cancellations IN SHARE MODE")
        } catch {
            // 55P03: the lock timeout ran out.
            guard case .server(_, _, _, "55P03") = error else { throw error }
            try await session.rows("ROLLBACK TO SAVEPOINT shut_out_inserts")
            return false
        }
        try await session.rows("RELEASE SAVEPOINT shut_out_inserts")
        return true
    }

    func recordAction(_ action: OperatorActionKind, job: Int64?, operator who: String, detail: String, at: Double) async throws(StoreError) {
        var binds = PostgresBindings()
        binds.append(at)
        binds.append(action.rawValue)
        binds.append(job)
        binds.append(detail)
        binds.append(who)
        try await session.rows(
            PostgresQuery(
                // The database role beside the host's user: who the server let in.
                unsafeSQL: "INSERT INTO operator_actions(at, action, cancellation_id, detail, operator) VALUES ($1, $2, $3, $4, concat_ws(', ', $5::text, 'role ' || current_user))",
                binds: binds))
    }

    func attempts(ofJob id: Int64) async throws(StoreError) -> [OrderTimeline.Attempt] {
        var binds = PostgresBindings()
        binds.append(id)
        return try await session.rows(
            PostgresQuery(
                unsafeSQL: """
                    SELECT attempt, started_at, completed_at, http_status, result_status, result_code, error, counted
                    FROM cancellation_attempts WHERE cancellation_id = $1 ORDER BY attempt
                    """, binds: binds)
        ).map { row throws(StoreError) in
            OrderTimeline.Attempt(
                attempt: try row.value(0), startedAt: try row.value(1), completedAt: try row.value(2), httpStatus: try row.value(3),
                status: try row.value(4), code: try row.value(5), error: try row.value(6), counted: try row.value(7))
        }
    }

    func operatorActions(onJob id: Int64) async throws(StoreError) -> [OrderTimeline.OperatorAction] {
        var binds = PostgresBindings()
        binds.append(id)
        return try await session.rows(
            PostgresQuery(unsafeSQL: "SELECT at, action, detail, operator FROM operator_actions WHERE cancellation_id = $1 ORDER BY id", binds: binds)
        ).map { row throws(StoreError) in
            OrderTimeline.OperatorAction(at: try row.value(0), action: try row.value(1), detail: try row.value(2), operator: try row.value(3))
        }
    }

    func withdrawals(ofOrder orderNumber: String) async throws(StoreError) -> [OrderTimeline.Withdrawal] {
        var binds = PostgresBindings()
        binds.append(orderNumber)
        return try await session.rows(
            PostgresQuery(unsafeSQL: "SELECT at, reason FROM cancellation_withdrawals WHERE order_number = $1 ORDER BY id", binds: binds)
        ).map { row throws(StoreError) in OrderTimeline.Withdrawal(at: try row.value(0), reason: try row.value(1)) }
    }
}

extension PostgresQueue: CommandQueue {
    public func statusReport(startOfDay: Double, thresholds: HealthThresholds) async throws(StoreError) -> StatusReport {
        try await statusReport(now: clock.now(), startOfDay: startOfDay, thresholds: thresholds)
    }
}
