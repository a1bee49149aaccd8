import CancelCore
import CancelQueue
import PostgresNIO

/// What operators do by hand on PostgreSQL, each recorded in `operator_actions`, through the same
/// state machine as on SQLite.
extension PostgresQueue {
    public func requeue(orderNumbers: [String], operator who: String?) async throws(StoreError) -> [RequeueResult] {
        try await session.transaction { () async throws(StoreError) -> [RequeueResult] in
            var results: [RequeueResult] = []
            for order in orderNumbers {
                var binds = PostgresBindings()
                binds.append(order)
                guard let record = try await jobs(where: "order_number = $1 FOR UPDATE", binds, lock: false).first else {
                    results.append(.refused(orderNumber: order, reason: "no such order in the queue"))
                    continue
                }
                results.append(try await requeue(record, operator: who))
            }
            return results
        }
    }

    public func requeueAllFailed(operator who: String?) async throws(StoreError) -> [RequeueResult] {
        try await session.transaction { () async throws(StoreError) -> [RequeueResult] in
            var results: [RequeueResult] = []
            for record in try await jobs(where: "state = \(State.failed.sql) ORDER BY id FOR UPDATE", lock: false) {
                results.append(try await requeue(record, operator: who))
            }
            return results
        }
    }

    private func requeue(_ record: JobRecord, operator who: String?) async throws(StoreError) -> RequeueResult {
        var job = record.job
        do {
            _ = try job.requeue()
        } catch {
            return .refused(orderNumber: record.orderNumber, reason: "it is \(record.state.rawValue): \(error.reason)")
        }
        var binds = PostgresBindings()
        binds.append(record.id)
        try await session.rows(
            PostgresQuery(
                unsafeSQL: """
                    UPDATE cancellations SET state = 'pending', attempt_count = 0, interruptions = 0, due_at = NULL,
                        outcome = NULL, updated_at = cancelq_now()
                    WHERE id = $1 AND state = 'failed'
                    """, binds: binds))
        let previous = record.job.outcome?.rawValue
        try await recordAction(
            "requeue", job: record.id, operator: who,
            detail: "was failed (\(previous ?? "-")) after \(record.job.attemptCount) counted attempt(s); fresh attempt budget")
        return .requeued(orderNumber: record.orderNumber, previousOutcome: previous)
    }

    /// Lifts a credential halt, or ends a maintenance pause now with one probe (for the whole
    /// cluster), as on SQLite. Returns what the gate was.
    public func resumeSending(operator who: String?) async throws(StoreError) -> SendingGate {
        try await session.transaction { () async throws(StoreError) -> SendingGate in
            let stored = try await readGate(lock: true)
            let now = stored.now
            guard let (resumed, detail) = stored.gate.resumed(now: now) else { return stored.gate }
            try await writeGate(resumed, now: now)
            try await session.rows(
                """
                UPDATE cancellations SET due_at = cancelq_now(), updated_at = cancelq_now()
                WHERE state = 'maintenance-paused' AND due_at > cancelq_now()
                """)
            try await recordAction("resume", job: nil, operator: who, detail: detail)
            return stored.gate
        }
    }

    func recordAction(_ action: String, job: Int64?, operator who: String?, detail: String) async throws(StoreError) {
        var binds = PostgresBindings()
        binds.append(action)
        binds.append(job)
        binds.append(detail)
        binds.append(who)
        try await session.rows(
            PostgresQuery(
                // The database role beside the host's user: who the server let in.
                unsafeSQL: "INSERT INTO operator_actions(at, action, cancellation_id, detail, operator) VALUES (cancelq_now(), $1, $2, $3, concat_ws(', ', $4::text, 'role ' || current_user))",
                binds: binds))
    }
}
