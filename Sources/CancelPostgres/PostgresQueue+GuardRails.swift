import CancelCore
import CancelStore
import PostgresNIO

/// Withdrawals and approvals on PostgreSQL: the same guard rails as on SQLite. A withdrawal is the
/// application's own insert into `cancellation_withdrawals`, whose trigger locks the job and refuses
/// it by name when a request has left; the operator's name goes into `operator_actions`.
extension PostgresQueue {
    public func withdraw(orderNumbers: [String], reason: String?, by operatorName: String) async throws(StoreError)
        -> [CancelStore.WithdrawResult]
    {
        var results: [CancelStore.WithdrawResult] = []
        for order in orderNumbers {
            results.append(try await withdraw(order, reason: reason, by: operatorName))
        }
        return results
    }

    private func withdraw(_ order: String, reason: String?, by operatorName: String) async throws(StoreError)
        -> CancelStore.WithdrawResult
    {
        try await session.transaction { () async throws(StoreError) -> CancelStore.WithdrawResult in
            var binds = PostgresBindings()
            binds.append(order)
            guard let record = try await jobs(where: "order_number = $1 FOR UPDATE", binds, lock: false).first else {
                return .refused(orderNumber: order, reason: "no such order in the queue")
            }
            var job = record.job
            do throws(ImpossibleEvent) {
                _ = try job.withdraw()
            } catch {
                return .refused(orderNumber: order, reason: CancelStore.tooLate(record.state, error))
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
    public func heldBacklog() async throws(StoreError) -> CancelStore.HeldBacklog? {
        try await session.snapshot { () async throws(StoreError) -> CancelStore.HeldBacklog? in
            guard case .held(let surge, let since) = try await readGate(lock: false).gate else { return nil }
            return CancelStore.HeldBacklog(surge: surge, since: since, backlog: try await backlog())
        }
    }

    private func backlog() async throws(StoreError) -> Int {
        let waiting = State.sqlList { !$0.isFinal && $0 != .sent }
        let count: Int64 = try await session.rows(
            PostgresQuery(unsafeSQL: "SELECT coalesce(sum(jobs), 0)::bigint FROM cancellation_state_counts WHERE state IN \(waiting)")
        ).first?.value(0) ?? 0
        return Int(count)
    }

    /// Releases a surge hold for every daemon; jobs enqueued after `shownAt` (when the operator saw
    /// the backlog) count toward the next surge.
    public func approve(coveringUpTo shownAt: Double?, by operatorName: String) async throws(StoreError) -> CancelStore.ApproveResult {
        try await session.transaction { () async throws(StoreError) -> CancelStore.ApproveResult in
            let stored = try await readGate(lock: true)
            var gate = stored.gate
            guard case .held(let surge, let since) = gate else { return .notHeld(gate.mode) }
            let held = CancelStore.HeldBacklog(surge: surge, since: since, backlog: try await backlog())
            _ = gate.approve()
            try await writeGate(gate, now: stored.now)
            let approvedAt = min(shownAt ?? stored.now, stored.now)
            var binds = PostgresBindings()
            binds.append(approvedAt)
            try await session.rows(PostgresQuery(unsafeSQL: "UPDATE sending_gate SET approved_at = $1 WHERE id = 1", binds: binds))
            try await recordAction(
                "approve", job: nil, operator: operatorName,
                detail: held.approvalDetail(approvedAt: approvedAt))
            return .released(held)
        }
    }
}
