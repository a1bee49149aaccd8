import CancelQueue
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
        let gate = try connection.query("SELECT \(GateRow.columns), approved_at FROM sending_gate WHERE id = 1") { row throws(StoreError) in
            try StatusReport.Sending(
                row: GateRow(
                    mode: row.string(0), pausedUntil: row.optionalDouble(1), maintenanceStreak: row.int(2), reason: row.optionalString(3),
                    code: row.optionalString(4), since: row.optionalDouble(5), holdEnqueued: row.optionalInt(6),
                    holdAbove: row.optionalInt(7), holdWindow: row.optionalDouble(8), holdCountedFrom: row.optionalDouble(9)),
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
        // A dropped audit trigger or insert guard is not a healthy queue, however it runs.
        let health = StatusReport.Health.judge(
            sending: gate, overdueSeconds: overdue, recentFailed: try countSince(.failed, now - thresholds.failureWindow),
            schemaProblems: try SchemaCheck.problems(connection).map(\.description),
            storageProblems: DatabaseFile.spaceProblem(path).map { [$0] } ?? [], thresholds: thresholds, now: now)
        return StatusReport(
            generatedAt: now, database: path, counts: counts, total: counts.values.reduce(0, +), unfinished: unfinished,
            oldestUnfinished: oldest, nextDue: nextDue, overdueSeconds: overdue, sending: gate, today: today,
            recentFailures: failures, health: health)
    }
}
