import CancelCore
import SQLite

/// `cancelq status`: every figure from an index or the trigger-kept counts, so it stays fast on
/// millions of rows; read in one snapshot, so the numbers agree with each other.
extension CancelStore {
    public func statusReport(now: Double, startOfDay: Double, thresholds: HealthThresholds = .init()) throws(StoreError)
        -> StatusReport
    {
        try storeErrors {
            try connection.transaction(.deferred) {
                try buildReport(now: now, startOfDay: startOfDay, thresholds: thresholds)
            }
        }
    }

    private func buildReport(now: Double, startOfDay: Double, thresholds: HealthThresholds) throws -> StatusReport {
        var counts = Dictionary(uniqueKeysWithValues: State.allCases.map { ($0.rawValue, 0) })
        for (state, jobs) in try connection.query("SELECT state, jobs FROM cancellation_state_counts", [], { ($0.string(0), $0.int(1)) }) {
            counts[try stored(state, as: State.self, column: "cancellation_state_counts.state").rawValue] = jobs
        }
        let unfinished = State.allCases.filter { !$0.isFinal }.reduce(0) { $0 + (counts[$1.rawValue] ?? 0) }

        let oldest = try connection.query(
            """
            SELECT order_number, state, created_at FROM cancellations
            WHERE state IN \(State.unfinishedSQL)
            ORDER BY id LIMIT 1
            """
        ) { row throws(StoreError) in
            StatusReport.JobSummary(
                orderNumber: row.string(0), state: try stored(row.string(1), as: State.self, column: "cancellations.state"),
                createdAt: row.double(2), ageSeconds: now - row.double(2))
        }.first

        let nextDue = try connection.query(
            """
            SELECT order_number, state, due_at FROM cancellations INDEXED BY cancellations_due
            WHERE state IN \(Self.awaitingSend) AND due_at IS NOT NULL ORDER BY due_at LIMIT 1
            """
        ) { row throws(StoreError) in
            StatusReport.DueJob(
                orderNumber: row.string(0), state: try stored(row.string(1), as: State.self, column: "cancellations.state"),
                dueAt: row.double(2), inSeconds: row.double(2) - now)
        }.first

        let waiting = State.allCases.filter { !$0.isFinal && $0 != .sent }.reduce(0) { $0 + (counts[$1.rawValue] ?? 0) }
        let gate = try connection.query(
            """
            SELECT mode, since, paused_until, maintenance_streak, reason, code, hold_enqueued, hold_above, hold_window,
                hold_counted_from, approved_at FROM sending_gate WHERE id = 1
            """
        ) { row throws(StoreError) in
            let mode = try stored(row.string(0), as: SendingGate.Mode.self, column: "sending_gate.mode")
            let hold = mode == .held
                ? StatusReport.Hold(
                    enqueued: row.optionalInt(6) ?? 0, holdAbove: row.optionalInt(7) ?? 0, windowSeconds: row.optionalDouble(8) ?? 0,
                    countedFrom: row.optionalDouble(9) ?? 0)
                : nil
            return StatusReport.Sending(
                mode: mode, since: row.optionalDouble(1), pausedUntil: row.optionalDouble(2),
                maintenanceStreak: row.int(3), reason: row.optionalString(4), code: row.optionalString(5), hold: hold,
                waiting: waiting, approvedAt: row.optionalDouble(10))
        }.first ?? StatusReport.Sending(mode: .open, maintenanceStreak: 0, waiting: waiting)

        func countSince(_ state: State, _ since: Double) throws -> Int {
            try connection.queryOne(
                "SELECT count(*) FROM cancellations WHERE state = ? AND updated_at >= ?", [state.rawValue, since]
            ) { $0.int(0) } ?? 0
        }
        let today = StatusReport.Today(
            since: startOfDay, succeeded: try countSince(.succeeded, startOfDay), failed: try countSince(.failed, startOfDay))

        let failures = try connection.query(
            """
            SELECT order_number, outcome, last_status, last_code, last_error, request_count, updated_at
            FROM cancellations WHERE state = \(State.failed.sql) ORDER BY updated_at DESC LIMIT 5
            """
        ) { row throws(StoreError) in
            StatusReport.Failure(
                orderNumber: row.string(0),
                outcome: try row.optionalString(1).map { raw throws(StoreError) in
                    try stored(raw, as: Outcome.self, column: "cancellations.outcome")
                },
                status: row.optionalString(2), code: row.optionalString(3),
                meaning: CodeTable.meaning(status: row.optionalString(2), code: row.optionalString(3)),
                error: row.optionalString(4), attempts: row.int(5), at: row.double(6))
        }

        let overdue = max(0, now - (nextDue?.dueAt ?? now))
        var reasons: [String] = []
        switch gate.mode {
        case .halted:
            reasons.append("sending halted: \(gate.reason ?? "credentials rejected")")
        case .paused:
            let pausedFor = now - (gate.since ?? now)
            if pausedFor > thresholds.maximumPause {
                reasons.append(
                    "paused for maintenance for \(DurationText.describe(pausedFor)) (threshold \(DurationText.describe(thresholds.maximumPause)))")
            }
        case .held:
            let hold = gate.hold
            reasons.append(
                "sending held: more than \(hold?.holdAbove ?? 0) jobs were enqueued within \(DurationText.describe(hold?.windowSeconds ?? 0)); "
                    + "\(gate.waiting) job(s) wait. Check they are meant to be cancelled (cancelq status), withdraw wrong ones "
                    + "(cancelq withdraw), then release the rest with `cancelq approve`")
        case .open:
            if overdue > thresholds.maximumOverdue {
                reasons.append(
                    "the earliest due job is \(DurationText.describe(overdue)) late (threshold \(DurationText.describe(thresholds.maximumOverdue))): is cancelq run up?")
            }
        }
        // A dropped audit trigger or insert guard is not a healthy queue, however it runs.
        for problem in try SchemaCheck.problems(connection) {
            reasons.append("schema: \(problem.description)")
        }
        let recentFailed = try countSince(.failed, now - thresholds.failureWindow)
        if recentFailed > 0 {
            reasons.append("\(recentFailed) job(s) failed in the last \(DurationText.describe(thresholds.failureWindow))")
        }
        return StatusReport(
            generatedAt: now, database: path, counts: counts, total: counts.values.reduce(0, +), unfinished: unfinished,
            oldestUnfinished: oldest, nextDue: nextDue, overdueSeconds: overdue, sending: gate, today: today,
            recentFailures: failures, health: .init(status: reasons.isEmpty ? .ok : .attention, reasons: reasons))
    }
}
