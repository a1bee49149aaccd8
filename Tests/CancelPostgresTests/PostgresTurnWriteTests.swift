import CancelQueue
import CancelStore
import QueueStoreConformance
import Testing
import TestSupport

@testable import CancelPostgres

/// A turn's writes on PostgreSQL: one statement for the whole turn however many jobs it carries,
/// and, when that statement is refused, job by job so that only the refused job is set aside.
@Suite("PostgreSQL: a turn in one statement", .serialized, .enabled(if: PostgresServer.shouldRun, "\(PostgresServer.skipNote)"))
struct PostgresTurnWriteTests {
    static let t0 = QueueStoreConformance.t0

    /// Counts the UPDATE statements on `cancellations` (a statement-level trigger), which is how
    /// many round trips the turns' job writes took.
    func countUpdates(_ database: PostgresTestDatabase) throws {
        try database.psql(
            """
            CREATE TABLE test_updates (n integer);
            CREATE FUNCTION test_count_update() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN INSERT INTO test_updates VALUES (1); RETURN NULL; END $$;
            CREATE TRIGGER test_count_updates AFTER UPDATE ON cancellations FOR EACH STATEMENT EXECUTE FUNCTION test_count_update();
            """)
    }

    func updates(_ database: PostgresTestDatabase) throws -> Int {
        Int(try database.psql("SELECT count(*) FROM test_updates")) ?? -1
    }

    @Test("200 discoveries, then 50 claims, then 50 answers and 50 claims: one statement per turn, and the per-state counts match the rows")
    func oneStatementPerTurn() async throws {
        try await PostgresTestDatabase.with { database in
            try await database.withQueues(["node-1"]) { queues in
                let queue = queues[0]
                try database.psql("INSERT INTO cancellations(order_number, paid_at) SELECT 'TURN-' || i, \(Self.t0 - 60) FROM generate_series(1, 200) AS i")
                try countUpdates(database)
                let found = try await queue.newJobs(limit: 500)
                #expect(found.count == 200)
                #expect(try await queue.commit(try found.map { try QueueStoreConformance.discovered($0, due: Self.t0 - 50) }, gate: nil, now: Self.t0).isEmpty)
                #expect(try updates(database) == 1, "200 discoveries in one statement")

                let claims = try await queue.dueJobs(now: Self.t0, limit: 50).map { try QueueStoreConformance.claimed($0, at: Self.t0) }
                #expect(try await queue.commit(claims, gate: nil, now: Self.t0).isEmpty)
                #expect(try updates(database) == 2)

                let next = try await queue.dueJobs(now: Self.t0 + 1, limit: 50).map { try QueueStoreConformance.claimed($0, at: Self.t0 + 1) }
                let answers = try claims.map { try QueueStoreConformance.answered($0, at: Self.t0 + 1) }
                #expect(try await queue.commit(answers + next, gate: nil, now: Self.t0 + 1).isEmpty)
                #expect(try updates(database) == 3, "50 answers and 50 claims in one statement")

                let byRows = try database.psql("SELECT state || '=' || count(*) FROM cancellations GROUP BY state ORDER BY 1")
                let byCounts = try database.psql(
                    "SELECT state || '=' || sum(jobs) FROM cancellation_state_counts GROUP BY state HAVING sum(jobs) <> 0 ORDER BY 1")
                #expect(byRows == "sent=50\nsucceeded=50\nwaiting-delay=100", "\(byRows)")
                #expect(byCounts == byRows)
                #expect(try database.psql("SELECT count(*) || '/' || count(completed_at) FROM cancellation_attempts") == "100/50")
            }
        }
    }

    @Test("a turn whose one statement a trigger refuses for one job is written job by job: the others land, only that one is set aside")
    func refusedStatementGoesJobByJob() async throws {
        try await PostgresTestDatabase.with { database in
            try await database.withQueues(["node-1"]) { queue in
                let queue = queue[0]
                for order in ["R-1", "R-2", "R-3"] { _ = try await queue.enqueue(orderNumber: order, paidAt: Self.t0 - 60) }
                _ = try await queue.commit(
                    try await queue.newJobs(limit: 10).map { try QueueStoreConformance.discovered($0, due: Self.t0 - 50) }, gate: nil, now: Self.t0)
                try database.psql(
                    """
                    CREATE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
                    BEGIN RAISE EXCEPTION 'refused by the test' USING ERRCODE = 'check_violation'; END $$;
                    CREATE TRIGGER test_refuse_r2 BEFORE UPDATE ON cancellations FOR EACH ROW
                    WHEN (OLD.order_number = 'R-2') EXECUTE FUNCTION test_refuse();
                    """)
                let claims = try await queue.dueJobs(now: Self.t0, limit: 10).map { try QueueStoreConformance.claimed($0, at: Self.t0) }
                #expect(claims.count == 3)
                let tampered = try await queue.commit(claims, gate: nil, now: Self.t0)
                #expect(tampered.map(\.orderNumber) == ["R-2"] && tampered.allSatisfy { !$0.jobUpdated }, "\(tampered)")
                #expect(tampered.first?.refusal?.contains("refused by the test") == true, "the refusal is named: \(tampered)")
                #expect(try database.psql("SELECT string_agg(order_number || ' ' || state, ', ' ORDER BY id) FROM cancellations") == "R-1 sent, R-2 waiting-delay, R-3 sent")
                #expect(try database.psql("SELECT string_agg(c.order_number, ', ' ORDER BY c.id) FROM cancellation_attempts a JOIN cancellations c ON c.id = a.cancellation_id") == "R-1, R-3")
            }
        }
    }

    @Test("a connection lost while a turn is written job by job commits nothing and says so: no write is set aside, nothing runs outside the transaction")
    func connectionLostJobByJob() async throws {
        try await PostgresTestDatabase.with { database in
            try await database.withQueues(["node-1"]) { queue in
                let queue = queue[0]
                for order in ["L-1", "L-2", "L-3"] { _ = try await queue.enqueue(orderNumber: order, paidAt: Self.t0 - 60) }
                _ = try await queue.commit(
                    try await queue.newJobs(limit: 10).map { try QueueStoreConformance.discovered($0, due: Self.t0 - 50) }, gate: nil, now: Self.t0)
                // L-2's write is refused in one statement and in one trip, and its step-by-step
                // UPDATE loses the connection (the backend ends itself), as a network cut would.
                try database.psql(
                    """
                    CREATE FUNCTION test_cut() RETURNS trigger LANGUAGE plpgsql AS $$
                    BEGIN
                        IF current_query() LIKE '%unnest%' OR current_query() LIKE '%cancelq_apply_write%' THEN
                            RAISE EXCEPTION 'refused by the test' USING ERRCODE = 'check_violation';
                        END IF;
                        PERFORM pg_terminate_backend(pg_backend_pid());
                        RETURN NEW;
                    END $$;
                    CREATE TRIGGER test_cut_l2 BEFORE UPDATE ON cancellations FOR EACH ROW
                    WHEN (OLD.order_number = 'L-2') EXECUTE FUNCTION test_cut();
                    """)
                let claims = try await queue.dueJobs(now: Self.t0, limit: 10).map { try QueueStoreConformance.claimed($0, at: Self.t0) }
                #expect(claims.count == 3)
                do {
                    let tampered = try await queue.commit(claims, gate: nil, now: Self.t0)
                    Issue.record("a turn whose connection was lost reported a commit: \(tampered)")
                } catch {
                    #expect((error as? StoreError)?.isTransient == true, "the loop keeps the turn and retries: \(error)")
                }
                #expect(try database.psql("SELECT string_agg(order_number || ' ' || state, ', ' ORDER BY id) FROM cancellations") == "L-1 waiting-delay, L-2 waiting-delay, L-3 waiting-delay")
                #expect(try database.psql("SELECT count(*) FROM cancellation_attempts") == "0", "no claim of the lost turn landed")
                try database.psql("DROP TRIGGER test_cut_l2 ON cancellations")
                // Retried as the loop does (commitHoldingOn): the same writes, now all applied.
                #expect(try await queue.commit(claims, gate: nil, now: Self.t0).isEmpty)
                #expect(try database.psql("SELECT string_agg(order_number || ' ' || state, ', ' ORDER BY id) FROM cancellations") == "L-1 sent, L-2 sent, L-3 sent")
            }
        }
    }

    @Test("a connection the server closed between a turn's read and its write is noticed: the turn's statements never run in autocommit, and the retry writes them in one transaction")
    func connectionClosedBetweenStatements() async throws {
        try await PostgresTestDatabase.with { database in
            try await database.withQueues(["node-1"]) { queue in
                let queue = queue[0]
                for order in ["C-1", "C-2"] { _ = try await queue.enqueue(orderNumber: order, paidAt: Self.t0 - 60) }
                _ = try await queue.commit(
                    try await queue.newJobs(limit: 10).map { try QueueStoreConformance.discovered($0, due: Self.t0 - 50) }, gate: nil, now: Self.t0)
                // The claims' read opens the turn's transaction; then its backend is ended.
                try await queue.turn { turn in
                    let claims = try await turn.dueJobs(now: Self.t0, limit: 10).map { try QueueStoreConformance.claimed($0, at: Self.t0) }
                    let pid = try #require(queue.session.backend?.pid)
                    _ = try database.psql("SELECT pg_terminate_backend(\(pid))")
                    try await Task.sleep(for: .milliseconds(200))
                    do {
                        let tampered = try await turn.commit(claims, gate: nil, now: Self.t0)
                        Issue.record("the turn was written on a new connection as if nothing had happened: \(tampered)")
                    } catch {
                        #expect((error as? StoreError)?.isTransient == true, "\(error)")
                    }
                    #expect(try database.psql("SELECT count(*) FROM cancellation_attempts") == "0", "nothing of the turn ran outside its transaction")
                    // As the loop does: the same turn commits again, in a new transaction.
                    #expect(try await turn.commit(claims, gate: nil, now: Self.t0).isEmpty, "the retry writes the turn")
                }
                #expect(try database.psql("SELECT string_agg(order_number || ' ' || state, ', ' ORDER BY id) FROM cancellations") == "C-1 sent, C-2 sent")
            }
        }
    }

    @Test("a COMMIT after the server closed the connection inside the transaction fails: it is never sent on a new connection, where it would 'succeed' with nothing written")
    func commitAfterTheConnectionClosed() async throws {
        try await PostgresTestDatabase.with { database in
            try await database.withQueues(["node-1"]) { queue in
                let session = queue[0].session
                try await session.begin()
                try await session.rows("INSERT INTO cancellations(order_number) VALUES ('S-1')")
                let pid = try #require(session.backend?.pid)
                _ = try database.psql("SELECT pg_terminate_backend(\(pid))")
                try await Task.sleep(for: .milliseconds(300))
                do {
                    try await session.commit()
                    Issue.record("a COMMIT on a closed connection reported success")
                } catch {
                    #expect((error as? StoreError)?.isTransient == true, "\(error)")
                }
                #expect(try database.psql("SELECT count(*) FROM cancellations") == "0")
                try await session.begin()
                try await session.rows("INSERT INTO cancellations(order_number) VALUES ('S-2')")
                try await session.commit()
                #expect(try database.psql("SELECT string_agg(order_number, ',') FROM cancellations") == "S-2", "the session works again")
            }
        }
    }
}
