import CancelCore
import SQLite

/// The sending gate (maintenance pause, credential halt) persisted in `sending_gate`.
extension CancelStore {
    public func loadGate() throws(StoreError) -> SendingGate {
        try storeErrors {
            try connection.queryOne(
                "SELECT mode, paused_until, maintenance_streak, reason, code, since FROM sending_gate WHERE id = 1"
            ) { row in
                switch row.string(0) {
                case "paused":
                    return SendingGate.paused(
                        until: row.optionalDouble(1) ?? 0, streak: max(1, row.int(2)), since: row.optionalDouble(5) ?? 0)
                case "halted":
                    return .halted(
                        HaltReason(code: row.optionalString(4) ?? "", explanation: row.optionalString(3) ?? "halted"),
                        since: row.optionalDouble(5) ?? 0)
                default:
                    return .open
                }
            } ?? .open
        }
    }

    public func saveGate(_ gate: SendingGate, now: Double) throws(StoreError) {
        try storeErrors { try connection.transaction { try save(gate, now: now) } }
    }

    func save(_ gate: SendingGate, now: Double) throws {
        // Another writer may have deleted the row: an UPDATE of nothing would drop a halt silently.
        try connection.run("INSERT OR IGNORE INTO sending_gate (id) VALUES (1)")
        switch gate {
        case .open:
            try connection.run(
                """
                UPDATE sending_gate SET mode = 'open', paused_until = NULL, maintenance_streak = 0, reason = NULL,
                    code = NULL, since = NULL, updated_at = ? WHERE id = 1
                """, now)
        case .paused(let until, let streak, let since):
            try connection.run(
                """
                UPDATE sending_gate SET mode = 'paused', paused_until = ?, maintenance_streak = ?, reason = ?,
                    code = NULL, since = ?, updated_at = ? WHERE id = 1
                """, until, streak, "the gateway answered maintenance", since, now)
        case .halted(let reason, let since):
            try connection.run(
                """
                UPDATE sending_gate SET mode = 'halted', paused_until = NULL, maintenance_streak = 0, reason = ?,
                    code = ?, since = ?, updated_at = ? WHERE id = 1
                """, reason.explanation, reason.code, since, now)
        }
    }
}
