import CancelCore
import CancelQueue
import PostgresNIO
import ZeusAPI

/// `cancelq status` on PostgreSQL: what it shows on SQLite, plus the live daemons and the jobs
/// rescued today. Read in one REPEATABLE READ snapshot so the figures agree; every figure comes
/// from an index or the slot counts, so a million jobs cost what ten do.
extension PostgresQueue {
    public func statusReport(now: Double, startOfDay: Double, thresholds: HealthThresholds = .init()) async throws(StoreError)
        -> StatusReport
    {
        try await session.snapshot { () async throws(StoreError) -> StatusReport in
            try await buildReport(now: now, startOfDay: startOfDay, thresholds: thresholds)
        }
    }

    func buildReport(now: Double, startOfDay: Double, thresholds: HealthThresholds) async throws(StoreError) -> StatusReport {
        var counts = Dictionary(uniqueKeysWithValues: State.allCases.map { ($0.rawValue, 0) })
        for row in try await session.rows("SELECT state, sum(jobs)::bigint FROM cancellation_state_counts GROUP BY state") {
            let state = try stored(try row.value(0, as: String.self), as: State.self, column: "cancellation_state_counts.state")
            counts[state.rawValue] = Int(try row.value(1, as: Int64.self))
        }
        let unfinished = State.allCases.filter { !$0.isFinal }.reduce(0) { $0 + (counts[$1.rawValue] ?? 0) }

        let oldest = try await session.rows(
            PostgresQuery(
                unsafeSQL: """
                    SELECT order_number, state, created_at FROM cancellations
                    WHERE state IN \(State.unfinishedSQL) AND id > 0 ORDER BY id LIMIT 1
                    """)
        ).first.map { row throws(StoreError) in
            let created: Double = try row.value(2)
            return StatusReport.JobSummary(
                orderNumber: try row.value(0), state: try stored(try row.value(1), as: State.self, column: "cancellations.state"),
                createdAt: created, ageSeconds: now - created)
        }

        let nextDue = try await session.rows(
            PostgresQuery(
                unsafeSQL: """
                    SELECT order_number, state, due_at FROM cancellations
                    WHERE state IN \(State.awaitingSendSQL) AND due_at IS NOT NULL ORDER BY due_at, id LIMIT 1
                    """)
        ).first.map { row throws(StoreError) in
            let due: Double = try row.value(2)
            return StatusReport.DueJob(
                orderNumber: try row.value(0), state: try stored(try row.value(1), as: State.self, column: "cancellations.state"),
                dueAt: due, inSeconds: due - now)
        }

        let waiting = State.allCases.filter { !$0.isFinal && $0 != .sent }.reduce(0) { $0 + (counts[$1.rawValue] ?? 0) }
        let gateNow = try await readGate(lock: false)
        let sending = try StatusReport.Sending(row: GateRow(gateNow.gate), waiting: waiting, approvedAt: gateNow.approvedAt)

        func countSince(_ state: State, _ since: Double) async throws(StoreError) -> Int {
            var binds = PostgresBindings()
            binds.append(state.rawValue)
            binds.append(since)
            let count: Int64 = try await session.rows(
                PostgresQuery(unsafeSQL: "SELECT count(*) FROM cancellations WHERE state = $1 AND updated_at >= $2", binds: binds)
            ).first?.value(0) ?? 0
            return Int(count)
        }
        let today = StatusReport.Today(
            since: startOfDay, succeeded: try await countSince(.succeeded, startOfDay),
            failed: try await countSince(.failed, startOfDay))

        var failures: [StatusReport.Failure] = []
        for row in try await session.rows(
            PostgresQuery(
                unsafeSQL: """
                    SELECT order_number, outcome, last_status, last_code, last_error, request_count, updated_at
                    FROM cancellations WHERE state = \(State.failed.sql) ORDER BY updated_at DESC LIMIT 5
                    """))
        {
            let status: String? = try row.value(2)
            let code: String? = try row.value(3)
            let outcome: String? = try row.value(1)
            failures.append(
                StatusReport.Failure(
                    orderNumber: try row.value(0),
                    outcome: try outcome.map { raw throws(StoreError) in try stored(raw, as: Outcome.self, column: "cancellations.outcome") },
                    status: status, code: code, meaning: CodeTable.meaning(status: status, code: code), error: try row.value(4),
                    attempts: try row.value(5), at: try row.value(6)))
        }

        var daemons: [StatusReport.Daemon] = []
        for row in try await session.rows(
            """
            SELECT node, host, pid, started_at, heartbeat_at, in_flight FROM cancelq_daemons
            WHERE heartbeat_at >= cancelq_now() - lease_seconds ORDER BY node
            """)
        {
            // Written by daemons, but editable by the database's owner: cut short, with finite times, so
            // a hand-made row cannot break the table or the JSON (every output escapes stored text).
            func finite(_ value: Double) -> Double { value.isFinite ? value : 0 }
            daemons.append(
                StatusReport.Daemon(
                    name: String(try row.value(0, as: String.self).prefix(100)),
                    host: String(try row.value(1, as: String.self).prefix(100)), pid: try row.value(2),
                    startedAt: finite(try row.value(3)), heartbeatAt: finite(try row.value(4)), inFlight: try row.value(5)))
        }
        var rescueBinds = PostgresBindings()
        rescueBinds.append(startOfDay)
        rescueBinds.append(AttemptNotes.outcomeUnknownPrefix + "%")
        let rescued: Int64 = try await session.rows(
            PostgresQuery(
                unsafeSQL: """
                    SELECT count(*) FROM cancellation_attempts
                    WHERE result_status IS NULL AND error LIKE $2 AND completed_at >= $1
                    """, binds: rescueBinds)
        ).first?.value(0) ?? 0

        let overdue = max(0, now - (nextDue?.dueAt ?? now))
        let recentFailed = try await countSince(.failed, now - thresholds.failureWindow)
        var health = StatusReport.Health.judge(
            sending: sending, overdueSeconds: overdue, recentFailed: recentFailed, schemaProblems: try await schemaProblems(),
            thresholds: thresholds, now: now)
        if daemons.isEmpty && unfinished > 0 {
            health.status = .attention
            health.reasons.append("no cancelq run is alive on this queue (no heartbeat within its lease)")
        }
        let orphaned: Int64 = try await session.rows(
            PostgresQuery(unsafeSQL: "SELECT count(*) FROM cancellations WHERE state = 'sent' AND \(Self.ownerIsDead)")
        ).first?.value(0) ?? 0
        if orphaned > 0 {
            health.status = .attention
            health.reasons.append(
                "\(orphaned) job(s) in flight in a daemon that stopped: a live daemon resends them (outcome unknown) once that daemon's lease has run out")
        }
        return StatusReport(
            generatedAt: now, database: location, counts: counts, total: counts.values.reduce(0, +), unfinished: unfinished,
            oldestUnfinished: oldest, nextDue: nextDue, overdueSeconds: overdue, sending: sending, today: today,
            recentFailures: failures, health: health, daemons: daemons, rescuedToday: Int(rescued))
    }
}
