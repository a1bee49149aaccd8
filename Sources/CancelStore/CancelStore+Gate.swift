import CancelCore
import SQLite

/// The sending gate (maintenance pause, credential halt) persisted in `sending_gate`.
extension CancelStore {
    public func loadGateNow() throws(StoreError) -> SendingGate {
        let row: (String, Double?, Int, String?, String?, Double?)? = try storeErrors {
            try connection.queryOne(
                "SELECT mode, paused_until, maintenance_streak, reason, code, since FROM sending_gate WHERE id = 1"
            ) { ($0.string(0), $0.optionalDouble(1), $0.int(2), $0.optionalString(3), $0.optionalString(4), $0.optionalDouble(5)) }
        }
        // No row: another writer deleted it; the next save puts it back.
        guard let (modeText, until, streak, reason, code, since) = row else { return .open }
        switch try stored(modeText, as: SendingGate.Mode.self, column: "sending_gate.mode") {
        case .open:
            return .open
        case .paused:
            return .paused(until: until ?? 0, streak: min(max(1, streak), Int.max - 1), since: since ?? 0)
        case .halted:
            return .halted(HaltReason(code: code ?? "", explanation: reason ?? "halted"), since: since ?? 0)
        }
    }

    public func saveGateNow(_ gate: SendingGate, now: Double) throws(StoreError) {
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
