import CancelCore
import SQLite

/// The sending gate (maintenance pause, credential halt, surge hold) persisted in `sending_gate`.
extension CancelStore {
    public func loadGateNow() throws(StoreError) -> SendingGate {
        typealias Row = (String, Double?, Int, String?, String?, Double?, Surge?)
        let row: Row? = try storeErrors {
            try connection.queryOne(
                """
                SELECT mode, paused_until, maintenance_streak, reason, code, since, hold_enqueued, hold_above,
                    hold_window, hold_counted_from FROM sending_gate WHERE id = 1
                """
            ) {
                let surge = Surge(
                    enqueued: $0.optionalInt(6) ?? 0, window: $0.optionalDouble(8) ?? 0, holdAbove: $0.optionalInt(7) ?? 0,
                    countedFrom: $0.optionalDouble(9) ?? 0)
                return ($0.string(0), $0.optionalDouble(1), $0.int(2), $0.optionalString(3), $0.optionalString(4), $0.optionalDouble(5), surge)
            }
        }
        // No row: another writer deleted it; the next save puts it back.
        guard let (modeText, until, streak, reason, code, since, surge) = row else { return .open }
        switch try stored(modeText, as: SendingGate.Mode.self, column: "sending_gate.mode") {
        case .open:
            return .open
        case .paused:
            return .paused(until: until ?? 0, streak: min(max(1, streak), Int.max - 1), since: since ?? 0)
        case .halted:
            return .halted(HaltReason(code: code ?? "", explanation: reason ?? "halted"), since: since ?? 0)
        case .held:
            return .held(surge ?? Surge(enqueued: 0, window: 0, holdAbove: 0, countedFrom: 0), since: since ?? 0)
        }
    }

    public func saveGateNow(_ gate: SendingGate, now: Double) throws(StoreError) {
        try storeErrors { try connection.transaction { try save(gate, now: now) } }
    }

    func save(_ gate: SendingGate, now: Double) throws {
        // Another writer may have deleted the row: an UPDATE of nothing would drop a halt silently.
        try connection.run("INSERT OR IGNORE INTO sending_gate (id) VALUES (1)")
        // approved_at is left alone: only an approval moves it.
        let noHold = "hold_enqueued = NULL, hold_above = NULL, hold_window = NULL, hold_counted_from = NULL"
        switch gate {
        case .open:
            try connection.run(
                """
                UPDATE sending_gate SET mode = 'open', paused_until = NULL, maintenance_streak = 0, reason = NULL,
                    code = NULL, since = NULL, updated_at = ?, \(noHold) WHERE id = 1
                """, now)
        case .paused(let until, let streak, let since):
            try connection.run(
                """
                UPDATE sending_gate SET mode = 'paused', paused_until = ?, maintenance_streak = ?, reason = ?,
                    code = NULL, since = ?, updated_at = ?, \(noHold) WHERE id = 1
                """, until, streak, "the gateway answered maintenance", since, now)
        case .halted(let reason, let since):
            try connection.run(
                """
                UPDATE sending_gate SET mode = 'halted', paused_until = NULL, maintenance_streak = 0, reason = ?,
                    code = ?, since = ?, updated_at = ?, \(noHold) WHERE id = 1
                """, reason.explanation, reason.code, since, now)
        case .held(let surge, let since):
            try connection.run(
                """
                UPDATE sending_gate SET mode = 'held', paused_until = NULL, maintenance_streak = 0, reason = ?,
                    code = NULL, since = ?, updated_at = ?, hold_enqueued = ?, hold_above = ?, hold_window = ?,
                    hold_counted_from = ? WHERE id = 1
                """, "surge: \(surge)", since, now, surge.enqueued, surge.holdAbove, surge.window, surge.countedFrom)
        }
    }
}

/// The surge hold's count.
extension CancelStore {
    /// The last `cancelq approve`, if any.
    public func lastApprovalNow() throws(StoreError) -> Double? {
        try storeErrors {
            try connection.queryOne("SELECT approved_at FROM sending_gate WHERE id = 1") { $0.optionalDouble(0) } ?? nil
        }
    }

    /// Jobs enqueued from `limit.countingFrom(now:approvedAt:)`, counted up to `limit.countCap` (the
    /// index range stops there, so a backlog of a million costs what one of a thousand does).
    public func enqueuedForSurgeNow(now: Double, limit: SurgeLimit) throws(StoreError) -> (enqueued: Int, countedFrom: Double) {
        try storeErrors {
            try connection.transaction(.deferred) {
                let from = limit.countingFrom(now: now, approvedAt: try lastApprovalNow())
                let count = try connection.queryOne(
                    """
                    SELECT count(*) FROM (SELECT 1 FROM cancellations INDEXED BY cancellations_created
                    WHERE created_at > ? LIMIT ?)
                    """, [from, limit.countCap]
                ) { $0.int(0) } ?? 0
                return (count, from)
            }
        }
    }
}
