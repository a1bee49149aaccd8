import CancelCore
import SQLite

/// What operators do by hand, each recorded in `operator_actions` for the audit trail.
extension CancelStore {
    public enum RequeueResult: Equatable, Sendable {
        case requeued(orderNumber: String, previousOutcome: String?)
        case refused(orderNumber: String, reason: String)
    }

    /// Puts `failed` jobs back to `pending` with a fresh attempt budget. Anything else is refused
    /// with the reason; the refusals do not stop the others.
    public func requeue(orderNumbers: [String], now: Double = currentTime()) throws(StoreError) -> [RequeueResult] {
        try storeErrors {
            try connection.transaction {
                try orderNumbers.map { order in
                    guard let record = try job(orderNumber: order) else {
                        return .refused(orderNumber: order, reason: "no such order in the queue")
                    }
                    return try requeue(record, now: now)
                }
            }
        }
    }

    /// Requeues every failed job.
    public func requeueAllFailed(now: Double = currentTime()) throws(StoreError) -> [RequeueResult] {
        try storeErrors {
            try connection.transaction {
                let failed = try connection.query(
                    "SELECT \(JobRecord.columns) FROM cancellations WHERE state = \(State.failed.sql) ORDER BY id"
                ) { try JobRecord(row: $0) }
                return try failed.map { try requeue($0, now: now) }
            }
        }
    }

    private func requeue(_ record: JobRecord, now: Double) throws -> RequeueResult {
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
            "INSERT INTO operator_actions(at, action, cancellation_id, detail) VALUES (?, 'requeue', ?, ?)",
            now, record.id,
            "was failed (\(previous ?? "-")) after \(record.job.attemptCount) counted attempt(s); fresh attempt budget")
        return .requeued(orderNumber: record.orderNumber, previousOutcome: previous)
    }

    /// Lifts a credential halt, or ends a maintenance pause now: one probe job then goes at once
    /// and its answer decides for every job, as at the pause's natural end (releasing every paused
    /// job at once would send a burst into a gateway that may still be in maintenance). Returns
    /// what the gate was.
    public func resumeSending(now: Double = currentTime()) throws(StoreError) -> SendingGate {
        try storeErrors {
            try connection.transaction {
                let previous = try loadGateNow()
                switch previous {
                case .open: return previous
                case .paused(_, let streak, let since): try save(.paused(until: now, streak: streak, since: since), now: now)
                case .halted: try save(.open, now: now)
                }
                // Paused jobs were due at the pause's end: make them due now.
                try connection.run(
                    "UPDATE cancellations SET due_at = ?, updated_at = ? WHERE state = 'maintenance-paused' AND due_at > ?",
                    now, now, now)
                let detail: String
                switch previous {
                case .open: detail = ""
                case .paused(let until, _, _): detail = "ended the maintenance pause that ran until \(until); one probe goes now"
                case .halted(let reason, _): detail = "lifted the halt: \(reason.explanation)"
                }
                try connection.run("INSERT INTO operator_actions(at, action, detail) VALUES (?, 'resume', ?)", now, detail)
                return previous
            }
        }
    }
}
