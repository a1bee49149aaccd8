import CancelCore
import CancelQueue
import SQLite

/// `cancelq status` on SQLite: the figures' SQL only (what the report makes of them is
/// `StatusReport.init(figures:)`). Every figure comes from an index or the trigger-kept counts,
/// so it stays fast on millions of rows; read in one snapshot, so the numbers agree.
extension CancelStore {
    public func statusReport(now: Double, startOfDay: Double, thresholds: HealthThresholds = .init()) throws(StoreError)
        -> StatusReport
    {
        let question = StatusFigures.Question(now: now, startOfDay: startOfDay, thresholds: thresholds)
        let figures = try storeErrors { try connection.transaction(.deferred) { try statusFigures(question) } }
        return try StatusReport(figures: figures, question: question, thresholds: thresholds)
    }

    func statusFigures(_ question: StatusFigures.Question) throws -> StatusFigures {
        var counts: [State: Int] = [:]
        for (state, jobs) in try connection.query("SELECT state, jobs FROM cancellation_state_counts", [], { ($0.string(0), $0.int(1)) }) {
            counts[try stored(state, as: State.self, column: "cancellation_state_counts.state"), default: 0] += jobs
        }
        let gate = try connection.queryOne("SELECT \(GateRow.columns), approved_at FROM sending_gate WHERE id = 1") {
            (GateRow(sqlite: $0), $0.optionalDouble(10))
        }
        var figures = StatusFigures(
            database: path, stateCounts: counts,
            oldestUnfinished: try job("SELECT order_number, state, created_at FROM cancellations WHERE state IN \(State.unfinishedSQL) ORDER BY id LIMIT 1"),
            nextDue: try job(
                """
                SELECT order_number, state, due_at FROM cancellations INDEXED BY cancellations_due
                WHERE state IN \(State.awaitingSendSQL) AND due_at IS NOT NULL ORDER BY due_at LIMIT 1
                """),
            gate: gate?.0, approvedAt: gate?.1, succeededToday: try count(.succeeded, since: question.startOfDay),
            failedToday: try count(.failed, since: question.startOfDay), failedRecently: try count(.failed, since: question.failuresSince),
            recentFailures: try recentFailures(limit: question.failuresListed),
            schemaProblems: try SchemaCheck.problems(connection).map(\.description))
        figures.storageProblems = DatabaseFile.spaceProblem(path).map { [$0] } ?? []
        return figures
    }

    private func job(_ sql: String) throws -> StatusFigures.Job? {
        try connection.query(sql) { row throws(StoreError) in
            StatusFigures.Job(
                orderNumber: row.string(0), state: try stored(row.string(1), as: State.self, column: "cancellations.state"), at: row.double(2))
        }.first
    }

    private func count(_ state: State, since: Double) throws -> Int {
        try connection.queryOne("SELECT count(*) FROM cancellations WHERE state = ? AND updated_at >= ?", [state.rawValue, since]) {
            $0.int(0)
        } ?? 0
    }

    private func recentFailures(limit: Int) throws -> [StatusReport.Failure] {
        try connection.query(
            """
            SELECT order_number, outcome, last_status, last_code, last_error, request_count, updated_at
            FROM cancellations WHERE state = \(State.failed.sql) ORDER BY updated_at DESC LIMIT ?
            """, [limit]
        ) { row throws(StoreError) in
            StatusReport.Failure(
                orderNumber: row.string(0),
                outcome: try row.optionalString(1).map { raw throws(StoreError) in try stored(raw, as: Outcome.self, column: "cancellations.outcome") },
                status: row.optionalString(2), code: row.optionalString(3), meaning: nil, error: row.optionalString(4), attempts: row.int(5),
                at: row.double(6))
        }
    }
}
