import CancelCore
import CancelQueue
import PostgresNIO
import ZeusAPI

/// `cancelq status` on PostgreSQL: the figures' SQL only (what the report makes of them is
/// `StatusReport.init(figures:)`), with the live daemons and the jobs rescued today. Read in one
/// REPEATABLE READ snapshot so the figures agree; every figure comes from an index or the slot
/// counts, so a million jobs cost what ten do.
extension PostgresQueue {
    public func statusReport(now: Double, startOfDay: Double, thresholds: HealthThresholds = .init()) async throws(StoreError)
        -> StatusReport
    {
        try await session.snapshot { () async throws(StoreError) -> StatusReport in
            try await buildReport(now: now, startOfDay: startOfDay, thresholds: thresholds)
        }
    }

    /// The report, inside a snapshot the caller opened.
    func buildReport(now: Double, startOfDay: Double, thresholds: HealthThresholds) async throws(StoreError) -> StatusReport {
        let question = StatusFigures.Question(now: now, startOfDay: startOfDay, thresholds: thresholds)
        return try StatusReport(figures: try await statusFigures(question), question: question, thresholds: thresholds)
    }

    func statusFigures(_ question: StatusFigures.Question) async throws(StoreError) -> StatusFigures {
        var counts: [State: Int] = [:]
        for row in try await session.rows("SELECT state, sum(jobs)::bigint FROM cancellation_state_counts GROUP BY state") {
            let state = try stored(try row.value(0, as: String.self), as: State.self, column: "cancellation_state_counts.state")
            counts[state, default: 0] += Int(try row.value(1, as: Int64.self))
        }
        let gate = try await readGate(lock: false)
        var figures = StatusFigures(
            database: location, stateCounts: counts,
            oldestUnfinished: try await job(
                "SELECT order_number, state, created_at FROM cancellations WHERE state IN \(State.unfinishedSQL) AND id > 0 ORDER BY id LIMIT 1"),
            nextDue: try await job(
                """
                SELECT order_number, state, due_at FROM cancellations
                WHERE state IN \(State.awaitingSendSQL) AND due_at IS NOT NULL ORDER BY due_at, id LIMIT 1
                """),
            gate: GateRow(gate.gate), approvedAt: gate.approvedAt, succeededToday: try await count(.succeeded, since: question.startOfDay),
            failedToday: try await count(.failed, since: question.startOfDay),
            failedRecently: try await count(.failed, since: question.failuresSince),
            recentFailures: try await recentFailures(limit: question.failuresListed), schemaProblems: try await schemaProblems())
        figures.liveDaemons = try await liveDaemons()
        var rescueBinds = PostgresBindings()
        rescueBinds.append(question.startOfDay)
        rescueBinds.append(AttemptNotes.outcomeUnknownPrefix + "%")
        figures.rescuedToday = Int(
            try await session.rows(
                PostgresQuery(
                    unsafeSQL: """
                        SELECT count(*) FROM cancellation_attempts
                        WHERE result_status IS NULL AND error LIKE $2 AND completed_at >= $1
                        """, binds: rescueBinds)
            ).first?.value(0, as: Int64.self) ?? 0)
        figures.orphanedInFlight = Int(
            try await session.rows(
                PostgresQuery(unsafeSQL: "SELECT count(*) FROM cancellations WHERE state = 'sent' AND \(Self.ownerIsDead)")
            ).first?.value(0, as: Int64.self) ?? 0)
        return figures
    }

    private func job(_ sql: String) async throws(StoreError) -> StatusFigures.Job? {
        try await session.rows(PostgresQuery(unsafeSQL: sql)).first.map { row throws(StoreError) in
            StatusFigures.Job(
                orderNumber: try row.value(0), state: try stored(try row.value(1), as: State.self, column: "cancellations.state"),
                at: try row.value(2))
        }
    }

    private func count(_ state: State, since: Double) async throws(StoreError) -> Int {
        var binds = PostgresBindings()
        binds.append(state.rawValue)
        binds.append(since)
        let count: Int64 = try await session.rows(
            PostgresQuery(unsafeSQL: "SELECT count(*) FROM cancellations WHERE state = $1 AND updated_at >= $2", binds: binds)
        ).first?.value(0) ?? 0
        return Int(count)
    }

    private func recentFailures(limit: Int) async throws(StoreError) -> [StatusReport.Failure] {
        var binds = PostgresBindings()
        binds.append(limit)
        return try await session.rows(
            PostgresQuery(
                unsafeSQL: """
                    SELECT order_number, outcome, last_status, last_code, last_error, request_count, updated_at
                    FROM cancellations WHERE state = \(State.failed.sql) ORDER BY updated_at DESC LIMIT $1
                    """, binds: binds)
        ).map { row throws(StoreError) in
            let outcome: String? = try row.value(1)
            return StatusReport.Failure(
                orderNumber: try row.value(0),
                outcome: try outcome.map { raw throws(StoreError) in try stored(raw, as: Outcome.self, column: "cancellations.outcome") },
                status: try row.value(2), code: try row.value(3), meaning: nil, error: try row.value(4), attempts: try row.value(5),
                at: try row.value(6))
        }
    }

    private func liveDaemons() async throws(StoreError) -> [StatusReport.Daemon] {
        // Written by daemons, but editable by the database's owner: cut short, with finite times, so
        // a hand-made row cannot break the table or the JSON (every output escapes stored text).
        func finite(_ value: Double) -> Double { value.isFinite ? value : 0 }
        return try await session.rows(
            """
            SELECT node, host, pid, started_at, heartbeat_at, in_flight FROM cancelq_daemons
            WHERE heartbeat_at >= cancelq_now() - lease_seconds ORDER BY node
            """
        ).map { row throws(StoreError) in
            StatusReport.Daemon(
                name: String(try row.value(0, as: String.self).prefix(100)), host: String(try row.value(1, as: String.self).prefix(100)),
                pid: try row.value(2), startedAt: finite(try row.value(3)), heartbeatAt: finite(try row.value(4)), inFlight: try row.value(5))
        }
    }
}
