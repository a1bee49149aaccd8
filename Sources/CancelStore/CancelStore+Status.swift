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
            counts[state] = jobs
        }
        let unfinished = State.allCases.filter { !$0.isFinal }.reduce(0) { $0 + (counts[$1.rawValue] ?? 0) }

        let oldest = try connection.query(
            """
            SELECT order_number, state, created_at FROM cancellations
            WHERE state IN ('pending', 'waiting-delay', 'sent', 'retrying', 'maintenance-paused')
            ORDER BY id LIMIT 1
            """
        ) { StatusReport.JobSummary(orderNumber: $0.string(0), state: $0.string(1), createdAt: $0.double(2), ageSeconds: now - $0.double(2)) }.first

        let nextDue = try connection.query(
            """
            SELECT order_number, state, due_at FROM cancellations INDEXED BY cancellations_due
            WHERE state IN \(Self.awaitingSend) AND due_at IS NOT NULL ORDER BY due_at LIMIT 1
            """
        ) { StatusReport.DueJob(orderNumber: $0.string(0), state: $0.string(1), dueAt: $0.double(2), inSeconds: $0.double(2) - now) }.first

        let gate = try connection.queryOne(
            "SELECT mode, since, paused_until, maintenance_streak, reason, code FROM sending_gate WHERE id = 1"
        ) {
            StatusReport.Sending(
                mode: $0.string(0), since: $0.optionalDouble(1), pausedUntil: $0.optionalDouble(2),
                maintenanceStreak: $0.int(3), reason: $0.optionalString(4), code: $0.optionalString(5))
        } ?? StatusReport.Sending(mode: "open", maintenanceStreak: 0)

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
            FROM cancellations WHERE state = 'failed' ORDER BY updated_at DESC LIMIT 5
            """
        ) {
            StatusReport.Failure(
                orderNumber: $0.string(0), outcome: $0.optionalString(1), status: $0.optionalString(2),
                code: $0.optionalString(3), meaning: CodeTable.meaning(status: $0.optionalString(2), code: $0.optionalString(3)),
                error: $0.optionalString(4), attempts: $0.int(5), at: $0.double(6))
        }

        let overdue = max(0, now - (nextDue?.dueAt ?? now))
        var reasons: [String] = []
        switch gate.mode {
        case "halted":
            reasons.append("sending halted: \(gate.reason ?? "credentials rejected")")
        case "paused":
            let pausedFor = now - (gate.since ?? now)
            if pausedFor > thresholds.maximumPause {
                reasons.append(
                    "paused for maintenance for \(DurationText.describe(pausedFor)) (threshold \(DurationText.describe(thresholds.maximumPause)))")
            }
        default:
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
            recentFailures: failures, health: .init(status: reasons.isEmpty ? "ok" : "attention", reasons: reasons))
    }
}
