import CancelCore
import CancelQueue
import CancelStore
import QueueStoreConformance
import Testing
import TestSupport

@testable import CancelPostgres

/// What an application holding exactly the README's grants can do to the queue beyond inserting
/// and withdrawing: temporary tables named like cancelq's, conflict clauses, a withdrawal of a job
/// whose request may have reached the gateway. Each is refused, or changes nothing.
@Suite("PostgreSQL: an application with the README's grants", .serialized, .enabled(if: PostgresServer.shouldRun, "\(PostgresServer.skipNote)"))
struct PostgresApplicationRoleTests {
    /// Real jobs the attacks aim at: one confirmed, one rescued (its request may have reached the gateway).
    func confirmedAndRescued(_ roles: ReadmeRoles) throws {
        let queued = try roles.asApplication(
            "INSERT INTO cancellations(order_number) VALUES ('DONE-1'), ('RESCUED-1')")
        #expect(queued.output.isEmpty, "\(queued.output)")
        try roles.superuser(
            """
            UPDATE cancellations SET state = 'succeeded', outcome = 'cancelled', request_count = 1, attempt_count = 1
                WHERE order_number = 'DONE-1';
            UPDATE cancellations SET state = 'retrying', due_at = cancelq_now() + 600, request_count = 1, attempt_count = 1
                WHERE order_number = 'RESCUED-1';
            INSERT INTO cancellation_attempts(cancellation_id, attempt, started_at, completed_at, error)
                SELECT id, 1, cancelq_now() - 60, cancelq_now(), 'outcome unknown: its daemon node-1 stopped heartbeating; rescued'
                FROM cancellations WHERE order_number = 'RESCUED-1';
            """)
    }

    /// Whether the per-state counts match the jobs, state by state.
    func countsMatch(_ roles: ReadmeRoles) throws -> Bool {
        try roles.superuser(
            """
            SELECT count(*) FROM (SELECT state, count(*) AS jobs FROM cancellations GROUP BY state) AS actual
            FULL JOIN (SELECT state, sum(jobs) AS jobs FROM cancellation_state_counts GROUP BY state HAVING sum(jobs) <> 0) AS counted
            USING (state) WHERE actual.jobs IS DISTINCT FROM counted.jobs
            """) == "0"
    }

    @Test("the README's grants as written leave an application no temporary tables")
    func noTemporaryTables() async throws {
        try await ReadmeRoles.with { roles in
            let made = try roles.asApplication("CREATE TEMP TABLE cancellations (id bigint)")
            #expect(made.output.contains("permission denied to create temporary tables"), "\(made.output)")
        }
    }

    @Test("temporary tables shadowing cancelq's receive nothing from the owner's triggers: a withdrawal of a confirmed or rescued job is refused, the counts stay right")
    func temporaryTablesShadowNothing() async throws {
        try await ReadmeRoles.with { roles in
            try confirmedAndRescued(roles)
            // A site that kept PostgreSQL's default (TEMP for every role): the triggers must hold anyway.
            try roles.superuser("GRANT TEMPORARY ON DATABASE \(roles.database) TO \(roles.applicationRole)")
            let s = roles.schema
            let withdrawals = try roles.asApplication(
                "CREATE TEMP TABLE cancellations (id bigint, order_number text, state text, outcome text, due_at double precision, updated_at double precision)",
                "INSERT INTO pg_temp.cancellations SELECT id, order_number, 'pending', NULL, NULL, 0 FROM \(s).cancellations",
                "CREATE TEMP TABLE cancellation_attempts (cancellation_id bigint, attempt integer, completed_at double precision, result_status text, error text)",
                "GRANT ALL ON pg_temp.cancellations, pg_temp.cancellation_attempts TO PUBLIC",
                "INSERT INTO \(s).cancellation_withdrawals(order_number, reason) VALUES ('DONE-1', 'shadowed')",
                "INSERT INTO \(s).cancellation_withdrawals(order_number, reason) VALUES ('RESCUED-1', 'shadowed')",
                "SELECT 'temp jobs changed: ' || count(*) FROM pg_temp.cancellations WHERE state <> 'pending'")
            #expect(withdrawals.output.contains("withdrawal_too_late_job_final"), "\(withdrawals.output)")
            #expect(withdrawals.output.contains("withdrawal_too_late_outcome_unknown"), "\(withdrawals.output)")
            #expect(withdrawals.output.contains("temp jobs changed: 0"), "\(withdrawals.output)")
            #expect(try roles.superuser("SELECT count(*) FROM cancellation_withdrawals") == "0")
            #expect(try roles.superuser("SELECT string_agg(order_number || '/' || state, ' ' ORDER BY id) FROM cancellations") == "DONE-1/succeeded RESCUED-1/retrying")
            let counts = try roles.asApplication(
                "CREATE TEMP TABLE cancellation_state_counts (state text, slot integer, jobs bigint NOT NULL DEFAULT 0, PRIMARY KEY (state, slot))",
                "GRANT ALL ON pg_temp.cancellation_state_counts TO PUBLIC",
                "INSERT INTO \(s).cancellations(order_number) VALUES ('NEW-1')",
                "INSERT INTO \(s).cancellation_withdrawals(order_number, reason) VALUES ('NEW-1', 'queued by mistake')",
                "SELECT 'temp counts: ' || count(*) FROM pg_temp.cancellation_state_counts")
            #expect(!counts.output.contains("ERROR") && counts.output.contains("temp counts: 0"), "\(counts.output)")
            #expect(try roles.superuser("SELECT state FROM cancellations WHERE order_number = 'NEW-1'") == "withdrawn")
            // The other tables cancelq's functions name, shadowed together: a withdrawal still lands.
            let others = try roles.asApplication(
                "CREATE TEMP TABLE cancellation_withdrawals (id bigint, order_number text, reason text, at double precision)",
                "CREATE TEMP TABLE cancelq_daemons (node text, heartbeat_at double precision)",
                "CREATE TEMP TABLE sending_gate (id integer, mode text)",
                "CREATE TEMP TABLE operator_actions (id bigint, action text)",
                "CREATE TEMP TABLE schema_migrations (version integer)",
                "GRANT ALL ON pg_temp.cancellation_withdrawals, pg_temp.cancelq_daemons, pg_temp.sending_gate, pg_temp.operator_actions, pg_temp.schema_migrations TO PUBLIC",
                "INSERT INTO \(s).cancellations(order_number) VALUES ('NEW-2')",
                "INSERT INTO \(s).cancellation_withdrawals(order_number, reason) VALUES ('NEW-2', 'queued by mistake')",
                "SELECT 'temp rows: ' || (SELECT count(*) FROM pg_temp.cancellation_withdrawals) + (SELECT count(*) FROM pg_temp.sending_gate)")
            #expect(!others.output.contains("ERROR") && others.output.contains("temp rows: 0"), "\(others.output)")
            #expect(try roles.superuser("SELECT string_agg(order_number, ' ' ORDER BY id) FROM cancellation_withdrawals") == "NEW-1 NEW-2")
            #expect(try countsMatch(roles), "the real counts got every change")
            // The daemon's schema check agrees: every function resolves in the queue's schema, pg_temp last.
            let queue = roles.daemonQueue(node: "check")
            #expect(try await queue.schemaProblems().isEmpty)
            await queue.close()
        }
    }

    @Test("a job whose earlier request may have reached the gateway (rescued, timed out, reset) is not withdrawn; after a refused connection or a definite answer it is")
    func withdrawalTooLateWhenTheOutcomeIsUnknown() async throws {
        try await ReadmeRoles.with { roles in
            // A rescue as the daemons make it: node-1 claims, stops heartbeating, node-2 rescues.
            let node1 = roles.daemonQueue(node: "node-1")
            let node2 = roles.daemonQueue(node: "node-2")
            try await node1.join()
            try await node2.join()
            _ = try await node1.enqueue(orderNumber: "RESCUED-1", paidAt: QueueStoreConformance.t0 - 60)
            _ = try await node1.commit(
                try await node1.newJobs(limit: 1).map { try QueueStoreConformance.discovered($0, due: QueueStoreConformance.t0 - 50) },
                gate: nil, now: QueueStoreConformance.t0)
            let claims = try await node1.dueJobs(now: QueueStoreConformance.t0, limit: 1).map { try QueueStoreConformance.claimed($0, at: QueueStoreConformance.t0) }
            _ = try await node1.commit(claims, gate: nil, now: QueueStoreConformance.t0)
            try roles.superuser("UPDATE cancelq_daemons SET heartbeat_at = heartbeat_at - 3600 WHERE node = 'node-1'")
            let abandoned = try await node2.abandonedJobs()
            #expect(try await node2.commit(try abandoned.map(PostgresClusterTests().rescued), gate: nil, now: QueueStoreConformance.t0 + 2).isEmpty)
            await node1.close()
            await node2.close()
            // Jobs between attempts after each kind of failure (written as the daemon writes them).
            let failures: [(order: String, attempts: [String])] = [
                ("TIMEOUT-1", ["NULL, 'no answer before the request timeout'"]),
                ("RESET-1", ["NULL, 'connection reset or closed before the answer'", "NULL, 'connection refused'"]),
                ("REFUSED-1", ["NULL, 'connection refused'"]),
                ("DEFINITE-1", ["'failure', NULL"]),
            ]
            for (order, attempts) in failures {
                try roles.superuser(
                    """
                    INSERT INTO cancellations(order_number) VALUES ('\(order)');
                    UPDATE cancellations SET state = 'retrying', due_at = cancelq_now() + 600, request_count = \(attempts.count),
                        attempt_count = \(attempts.count) WHERE order_number = '\(order)';
                    """
                        + attempts.enumerated().map { number, result in
                            """
                            INSERT INTO cancellation_attempts(cancellation_id, attempt, started_at, completed_at, result_status, error)
                            SELECT id, \(number + 1), cancelq_now() - 60, cancelq_now() - 50, \(result) FROM cancellations WHERE order_number = '\(order)';
                            """
                        }.joined())
            }
            #expect(try roles.superuser("SELECT state FROM cancellations WHERE order_number = 'RESCUED-1'") == "retrying")
            for order in ["RESCUED-1", "TIMEOUT-1", "RESET-1", "REFUSED-1", "DEFINITE-1"] {
                let withdrawn = try roles.asApplication(
                    "\\set VERBOSITY verbose",
                    "INSERT INTO cancellation_withdrawals(order_number, reason) VALUES ('\(order)', 'customer kept the order')")
                let tooLate = ["RESCUED-1", "TIMEOUT-1", "RESET-1"].contains(order)
                #expect(
                    withdrawn.output.contains(
                        "withdrawal_too_late_outcome_unknown: an earlier request for this order may have reached the gateway (no definite answer came back); the job goes on until the gateway answers; nothing was withdrawn")
                        == tooLate, "\(order): \(withdrawn.output)")
                #expect(withdrawn.output.contains("CONSTRAINT NAME:  withdrawal_too_late_outcome_unknown") == tooLate, "\(order): \(withdrawn.output)")
                #expect(try roles.superuser("SELECT state FROM cancellations WHERE order_number = '\(order)'") == (tooLate ? "retrying" : "withdrawn"))
            }
            #expect(try roles.superuser("SELECT string_agg(order_number, ' ' ORDER BY id) FROM cancellation_withdrawals") == "REFUSED-1 DEFINITE-1")
        }
    }

    @Test("a duplicate is refused by name whatever the conflict clause; no conflict clause changes or hides a row; the README's WHERE NOT EXISTS idiom queues once")
    func conflictClausesChangeNothing() async throws {
        try await ReadmeRoles.with { roles in
            #expect(try roles.asApplication("INSERT INTO cancellations(order_number) VALUES ('DUP-1')").output.isEmpty)
            let duplicates = [
                "INSERT INTO cancellations(order_number) VALUES ('DUP-1')",
                "INSERT INTO cancellations(order_number) VALUES ('DUP-1') ON CONFLICT DO NOTHING",
                "INSERT INTO cancellations(order_number) VALUES ('DUP-1') ON CONFLICT (order_number) DO NOTHING",
            ]
            for statement in duplicates {
                let refused = try roles.asApplication("\\set VERBOSITY verbose", statement)
                #expect(refused.output.contains("order_number_already_enqueued: this order is already queued"), "\(statement): \(refused.output)")
                #expect(refused.output.contains("CONSTRAINT NAME:  order_number_already_enqueued"), "\(statement): \(refused.output)")
            }
            // Whatever needs UPDATE, or a table the application may not insert into, is refused outright.
            let job = try roles.superuser("SELECT id FROM cancellations WHERE order_number = 'DUP-1'")
            let forbidden = [
                "INSERT INTO cancellations(order_number) VALUES ('DUP-1') ON CONFLICT (order_number) DO UPDATE SET paid_at = 0",
                "INSERT INTO cancellation_attempts(cancellation_id, attempt, started_at, completed_at, result_status, result_code) VALUES (\(job), 1, 0, 0, 'success', '000') ON CONFLICT DO NOTHING",
                "INSERT INTO cancellation_attempts(cancellation_id, attempt, started_at) VALUES (\(job), 1, 0) ON CONFLICT (cancellation_id, attempt) DO UPDATE SET result_status = 'success'",
                "INSERT INTO operator_actions(at, action, operator) VALUES (0, 'approve', 'alice') ON CONFLICT DO NOTHING",
                "INSERT INTO operator_actions(at, action) VALUES (0, 'approve') ON CONFLICT (id) DO UPDATE SET operator = 'alice'",
                "INSERT INTO cancellation_withdrawals(order_number, reason) VALUES ('DUP-1', 'x') ON CONFLICT (id) DO UPDATE SET reason = 'y'",
            ]
            for statement in forbidden {
                let refused = try roles.asApplication(statement)
                #expect(refused.output.contains("permission denied"), "\(statement): \(refused.output)")
            }
            // A withdrawal with DO NOTHING withdraws; a second one is still refused by name, not hidden.
            let withdrawal = "INSERT INTO cancellation_withdrawals(order_number, reason) VALUES ('DUP-1', 'x') ON CONFLICT DO NOTHING"
            #expect(try roles.asApplication(withdrawal).output.isEmpty)
            #expect(try roles.asApplication(withdrawal).output.contains("withdrawal_too_late_job_final"))
            // The README's idiom for an order that may be queued already, as written there.
            let idiom = try #require(
                ReadmeRoles.readme.firstMatch(of: /`(INSERT INTO\s+cancellations\(order_number, paid_at\) SELECT \$1::text.*?WHERE order_number = \$1\))`/.dotMatchesNewlines())
            ).1.replacing(/\s+/, with: " ")
            let queued = try roles.asApplication(
                "PREPARE maybe_queue AS \(idiom)", "EXECUTE maybe_queue('DUP-2', NULL)", "EXECUTE maybe_queue('DUP-2', 1700000000)",
                "EXECUTE maybe_queue('DUP-1', NULL)")
            #expect(!queued.output.contains("ERROR"), "\(queued.output)")
            #expect(try roles.superuser("SELECT string_agg(order_number || '/' || state || '/' || coalesce(paid_at::text, '-'), ' ' ORDER BY id) FROM cancellations") == "DUP-1/withdrawn/- DUP-2/pending/-")
            #expect(try roles.superuser("SELECT count(*) FROM cancellation_attempts") == "0")
            #expect(try roles.superuser("SELECT count(*) FROM operator_actions") == "0")
            #expect(try countsMatch(roles))
        }
    }
}
