import CancelCore
import CancelQueue
import PostgresNIO

/// Withdrawals and approvals on PostgreSQL: the same guard rails as on SQLite. A withdrawal is the
/// application's own insert into `cancellation_withdrawals`, whose trigger locks the job and refuses
/// it by name when a request has left; the operator's name goes into `operator_actions`.
extension PostgresQueue {
    public func withdraw(orderNumbers: [String], reason: String?, by operatorName: String) async throws(StoreError)
        -> [WithdrawResult]
    {
        var results: [WithdrawResult] = []
        for order in orderNumbers {
            results.append(try await withdraw(order, reason: reason, by: operatorName))
        }
        return results
    }

    private func withdraw(_ order: String, reason: String?, by operatorName: String) async throws(StoreError)
        -> WithdrawResult
    {
        try await session.transaction { () async throws(StoreError) -> WithdrawResult in
            var binds = PostgresBindings()
            binds.append(order)
            guard let record = try await jobs(where: "order_number = $1 FOR UPDATE", binds, lock: false).first else {
                return .refused(orderNumber: order, reason: "no such order in the queue")
            }
            var job = record.job
            do throws(ImpossibleEvent) {
                _ = try job.withdraw()
            } catch {
                return .refused(orderNumber: order, reason: WithdrawResult.tooLate(record.state, error))
            }
            binds.append(reason)
            // The trigger decides again under the row lock this transaction already holds.
            do throws(StoreError) {
                try await session.rows(
                    PostgresQuery(unsafeSQL: "INSERT INTO cancellation_withdrawals(order_number, reason) VALUES ($1, $2)", binds: binds))
            } catch {
                guard case .server(_, let message, let constraint) = error,
                    let refusal = WithdrawalRefusal(message: constraint ?? message)
                else { throw error }
                return .refused(orderNumber: order, reason: refusal.description)
            }
            try await recordAction(
                "withdraw", job: record.id, operator: operatorName,
                detail: "was \(record.state.rawValue); \(reason.map { "reason: \($0)" } ?? "no reason given")")
            return .withdrawn(orderNumber: order, previousState: record.state)
        }
    }

    /// What `approve` would release now; nil when sending is not held.
    public func heldBacklog() async throws(StoreError) -> HeldBacklog? {
        try await session.snapshot { () async throws(StoreError) -> HeldBacklog? in
            guard case .held(let surge, let since) = try await readGate(lock: false).gate else { return nil }
            return HeldBacklog(surge: surge, since: since, waiting: try await waitingJobs())
        }
    }

    private func waitingJobs() async throws(StoreError) -> WaitingJobs {
        guard let row = try await session.rows(PostgresQuery(unsafeSQL: WaitingJobs.sql)).first else {
            return WaitingJobs(count: 0, highestID: 0, idSum: 0)
        }
        return WaitingJobs(count: Int(try row.value(0, as: Int64.self)), highestID: try row.value(1), idSum: try row.value(2))
    }

    /// How long an approval waits for open transactions on `cancellations` before it gives up.
    static let approvalLockTimeout = "5s"

    /// Releases a surge hold for every daemon, exactly the jobs in `shown` (`CancelStore.approval`).
    /// Ids and `created_at` are assigned when a row is inserted, before it commits: an insert still
    /// open now would be invisible to the count and released unseen. The SHARE lock waits for every
    /// such transaction to end and keeps new ones out until this one commits (the gate's row is
    /// locked first, in the daemons' order, so the two never wait on each other in a circle); the
    /// count after it (READ COMMITTED: a new snapshot per statement) sees every row.
    public func approve(shown: HeldBacklog?, by operatorName: String) async throws(StoreError) -> ApproveResult {
        do {
            return try await session.transaction { () async throws(StoreError) -> ApproveResult in
                var gate = try await readGate(lock: true).gate
                guard case .held = gate else { return .notHeld(gate.mode) }
                try await session.rows(PostgresQuery(unsafeSQL: "SET LOCAL lock_timeout = '\(Self.approvalLockTimeout)'"))
                try await session.rows("LOCK TABLE cancellations IN SHARE MODE")
                let counted = try await waitingJobs()
                let approvedAt: Double = try await session.rows("SELECT cancelq_now()").first?.value(0) ?? clock.now()
                let result = ApproveResult.approval(of: gate, counted: counted, shown: shown, approvedAt: approvedAt)
                guard case .released(let released) = result else { return result }
                _ = gate.approve()
                try await writeGate(gate, now: approvedAt)
                var binds = PostgresBindings()
                binds.append(approvedAt)
                try await session.rows(PostgresQuery(unsafeSQL: "UPDATE sending_gate SET approved_at = $1 WHERE id = 1", binds: binds))
                try await recordAction("approve", job: nil, operator: operatorName, detail: released.held.approvalDetail(approvedAt: approvedAt))
                return result
            }
        } catch {
            // 55P03: the lock timeout ran out; nothing was approved.
            if case .server(_, let message, _) = error, message.contains("lock timeout") { return .busy }
            throw error
        }
    }
}
