import CancelQueue
import CancelStore
import Foundation
import Logging
import QueueStoreConformance
import Testing
import TestSupport

@testable import CancelPostgres

/// The schema check on PostgreSQL: what an owner's mistake (or worse) does to the guards is seen,
/// refused by `run`, reported by `status --check`, and undone by `migrate` where it can be.
@Suite("PostgreSQL schema check", .serialized, .enabled(if: PostgresServer.shouldRun, "\(PostgresServer.skipNote)"))
struct PostgresSchemaCheckTests {
    /// The statement of migration 2 that creates `cancelq_apply_write`, as the migration has it.
    static var writeFunction: String {
        SQLScript.statements(Migration.postgreSQL[1].sql).first { $0.hasPrefix("CREATE FUNCTION cancelq_apply_write") }!
    }

    @Test("a disabled or dropped guard, a replaced guard function or a foreign unique index is found; migrate restores what it can")
    func tamperedSchema() async throws {
        try await PostgresTestDatabase.with { database in
            let queue = try database.queue(node: "check")
            #expect(try await queue.schemaProblems().isEmpty, "a fresh schema is clean")
            try database.psql("ALTER TABLE cancellations DISABLE TRIGGER cancellations_insert_sets_only_order_number_and_paid_at")
            try database.psql("DROP TRIGGER cancellations_identity_and_times_are_immutable ON cancellations")
            try database.psql(
                "CREATE OR REPLACE FUNCTION cancellation_attempts_guard() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$")
            try database.psql("DROP INDEX cancellations_due")
            try database.psql("CREATE UNIQUE INDEX evil ON cancellations (order_number) WHERE state = 'pending'")
            let problems = try await queue.schemaProblems()
            for expected in [
                "trigger cancellations_insert_sets_only_order_number_and_paid_at on cancellations is disabled",
                "trigger cancellations_identity_and_times_are_immutable on cancellations is missing",
                "function cancellation_attempts_guard is not the one cancelq made",
                "index cancellations_due on cancellations is missing",
                "index evil on cancellations was not made by cancelq",
            ] {
                #expect(problems.contains { $0.hasPrefix(expected) }, "\(expected) in \(problems)")
            }
            let repair = try await queue.repairSchema()
            #expect(repair.repaired.count == 4 && repair.remaining.count == 1 && repair.remaining[0].hasPrefix("index evil"), "\(repair)")
            try database.psql("DROP INDEX evil")
            #expect(try await queue.schemaProblems().isEmpty)
            // The guards work again.
            #expect(throws: TestFailure.self) { try database.psql("INSERT INTO cancellations(order_number, state) VALUES ('X', 'sent')") }
            await queue.close()
        }
    }

    @Test("the one-trip write function replaced without its guard, or an overload beside it, is found; migrate restores it")
    func replacedWriteFunction() async throws {
        try await PostgresTestDatabase.with { database in
            let queue = try database.queue(node: "check")
            let unguarded = Self.writeFunction
                .replacingOccurrences(of: "CREATE FUNCTION", with: "CREATE OR REPLACE FUNCTION")
                .replacingOccurrences(of: " AND state = p_expected_state AND owner IS NOT DISTINCT FROM p_expected_owner", with: "")
            #expect(unguarded.contains("CREATE OR REPLACE FUNCTION cancelq_apply_write") && !unguarded.contains("p_expected_owner;"))
            try database.psql(unguarded)
            #expect(try await queue.schemaProblems() == ["function cancelq_apply_write is not the one cancelq made"])
            let repair = try await queue.repairSchema()
            #expect(repair.repaired.count == 1 && repair.remaining.isEmpty, "\(repair)")
            #expect(try await queue.schemaProblems().isEmpty)
            try database.psql("CREATE FUNCTION cancelq_apply_write(p_id integer) RETURNS text LANGUAGE sql AS $$ SELECT 'applied' $$")
            #expect(try await queue.schemaProblems() == ["function cancelq_apply_write has 1 overload(s) cancelq did not make (drop them)"])
            await queue.close()
        }
    }

    @Test("a running daemon's commit refuses a write function that says 'applied' and writes nothing: nothing is committed or sent")
    func lyingWriteFunctionStopsTheCommit() async throws {
        try await PostgresTestDatabase.with { database in
            let queue = try database.queue(node: "victim")
            _ = try await queue.enqueue(orderNumber: "LIE-1", paidAt: QueueStoreConformance.t0 - 60)
            _ = try await queue.commit(
                try await queue.newJobs(limit: 1).map { try QueueStoreConformance.discovered($0, due: QueueStoreConformance.t0 - 50) },
                gate: nil, now: QueueStoreConformance.t0)
            let liar = Self.writeFunction
                .replacingOccurrences(of: "CREATE FUNCTION", with: "CREATE OR REPLACE FUNCTION")
                .replacing(#/BEGIN\n.*\nEND\n/#.dotMatchesNewlines(), with: "BEGIN RETURN 'applied'; END\n")
            #expect(liar.contains("BEGIN RETURN 'applied'; END"))
            try database.psql(liar)
            // The same claim twice cannot be said per job by the turn's one statement: it goes job by job, through the function.
            let claim = try await queue.dueJobs(now: QueueStoreConformance.t0, limit: 1).map { try QueueStoreConformance.claimed($0, at: QueueStoreConformance.t0) }
            let claims = claim + claim
            await #expect(throws: StoreError.self) { try await queue.commit(claims, gate: nil, now: QueueStoreConformance.t0) }
            do {
                _ = try await queue.commit(claims, gate: nil, now: QueueStoreConformance.t0)
            } catch {
                #expect("\(error)".contains("reported writes it did not make"), "\(error)")
            }
            #expect(try database.psql("SELECT state || '/' || (SELECT count(*) FROM cancellation_attempts) FROM cancellations") == "waiting-delay/0")
            await queue.close()
        }
    }

    @Test("a trigger that makes the turn's one statement write nothing while it reports each job written stops the commit: nothing is committed or sent")
    func triggerThatSwallowsTheTurnStopsTheCommit() async throws {
        try await PostgresTestDatabase.with { database in
            let queue = try database.queue(node: "victim")
            let t0 = QueueStoreConformance.t0
            _ = try await queue.enqueue(orderNumber: "SWALLOW-1", paidAt: t0 - 60)
            _ = try await queue.enqueue(orderNumber: "SWALLOW-2", paidAt: t0 - 60)
            _ = try await queue.commit(
                try await queue.newJobs(limit: 2).map { try QueueStoreConformance.discovered($0, due: t0 - 50) }, gate: nil, now: t0)
            // Returning OLD keeps the row as it was, and the UPDATE still counts (and returns) it.
            try database.psql(
                """
                CREATE FUNCTION keep_old() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN OLD; END $$;
                CREATE TRIGGER zz_keep_old BEFORE UPDATE ON cancellations FOR EACH ROW EXECUTE FUNCTION keep_old();
                """)
            let claims = try await queue.dueJobs(now: t0, limit: 2).map { try QueueStoreConformance.claimed($0, at: t0) }
            #expect(claims.count == 2)
            do {
                _ = try await queue.commit(claims, gate: nil, now: t0)
                Issue.record("the commit went through although no job became sent")
            } catch {
                #expect("\(error)".contains("reported writes it did not make"), "\(error)")
            }
            #expect(try database.psql("SELECT string_agg(state, ',') || '/' || (SELECT count(*) FROM cancellation_attempts) FROM cancellations") == "waiting-delay,waiting-delay/0")
            await queue.close()
        }
    }

    @Test("an application with the README's grants inserts and withdraws, and can neither call the write function nor edit a job")
    func readmeGrantsAreEnough() async throws {
        // README "Roles and grants", its SQL run as written (ReadmeRoles).
        try await ReadmeRoles.with { roles in
            let insert = try roles.asApplication("INSERT INTO cancellations(order_number, paid_at) VALUES ('APP-1', extract(epoch from now()) - 60), ('APP-2', NULL)")
            #expect(insert.output.isEmpty, "\(insert.output)")
            let withdraw = try roles.asApplication("INSERT INTO cancellation_withdrawals(order_number, reason) VALUES ('APP-2', 'customer kept the order')")
            #expect(withdraw.output.isEmpty, "\(withdraw.output)")
            #expect(try roles.superuser("SELECT order_number || '/' || state FROM cancellations ORDER BY id") == "APP-1/pending\nAPP-2/withdrawn")
            #expect(try roles.superuser("SELECT state || '=' || sum(jobs) FROM cancellation_state_counts GROUP BY state HAVING sum(jobs) > 0 ORDER BY 1") == "pending=1\nwithdrawn=1")
            let call = try roles.asApplication(
                "SELECT cancelq_apply_write(1, 'pending', NULL, 'succeeded', 0, 0, NULL, 'cancelled', 'success', '000', NULL, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)")
            #expect(call.output.contains("permission denied"), "\(call.output)")
            let edit = try roles.asApplication("UPDATE cancellations SET state = 'succeeded' WHERE order_number = 'APP-1'")
            #expect(edit.output.contains("permission denied"), "\(edit.output)")
            #expect(try roles.superuser("SELECT state FROM cancellations WHERE order_number = 'APP-1'") == "pending")
        }
    }

    @Test("a write or trigger function altered without touching its text (SECURITY DEFINER, a search_path, STRICT, EXECUTE for all) is found and restored")
    func alteredFunctionAttributes() async throws {
        try await PostgresTestDatabase.with { database in
            let queue = try database.queue(node: "check")
            #expect(try await queue.schemaProblems().isEmpty)
            let signature = try database.psql("SELECT oid::regprocedure::text FROM pg_proc WHERE proname = 'cancelq_apply_write'")
            try database.psql("ALTER FUNCTION \(signature) SECURITY DEFINER")
            try database.psql("ALTER FUNCTION cancellations_insert_guard() SECURITY INVOKER")
            try database.psql("ALTER FUNCTION cancellation_attempts_guard() SET search_path = elsewhere")
            try database.psql("ALTER FUNCTION cancellation_state_counts_keep() SET session_replication_role = replica")
            try database.psql("ALTER FUNCTION sending_gate_guard() STRICT")
            try database.psql("GRANT EXECUTE ON FUNCTION \(signature) TO PUBLIC")
            let problems = try await queue.schemaProblems()
            for name in ["cancelq_apply_write", "cancellations_insert_guard", "cancellation_attempts_guard", "cancellation_state_counts_keep", "sending_gate_guard"] {
                #expect(problems.contains("function \(name) does not run as cancelq made it (its security, settings, volatility or strictness were altered)"), "\(name): \(problems)")
            }
            #expect(problems.contains("function cancelq_apply_write may be called by every role"))
            let repair = try await queue.repairSchema()
            #expect(repair.remaining.isEmpty && repair.repaired.count == 6, "\(repair)")
            #expect(try await queue.schemaProblems().isEmpty)
            #expect(try database.psql("SELECT proconfig[1] || '/' || array_length(proconfig, 1) FROM pg_proc WHERE proname = 'cancellation_state_counts_keep'").hasPrefix("search_path="))
            await queue.close()
        }
    }

    @Test("a queue migrated by the previous release is refused until migrate adds what this one needs")
    func upgradeFromTheFirstSchema() async throws {
        let server = try PostgresServer.shared()
        let url = try server.createDatabase()
        let queue = PostgresQueue(location: try PostgresLocation(url: url, defaultUser: "postgres"), node: "u", logger: .init(label: "t"))
        #expect(try await queue.migrate(migrations: Array(Migration.postgreSQL.prefix(1))) == ["0001_postgresql_queue.sql"])
        let binaryVersion = Migration.postgreSQL.count
        #expect(binaryVersion >= 4, "this binary knows the migrations up to the plans' (0004)")
        await #expect(throws: StoreError.schemaBehind(path: queue.location, databaseVersion: 1, binaryVersion: binaryVersion)) {
            try await queue.requireMigrated()
        }
        #expect(try await queue.migrate() == Migration.postgreSQL.dropFirst().map(\.name))
        try await queue.requireMigrated()
        let problems = try await queue.schemaProblems()
        #expect(problems.isEmpty, "\(problems)")
        await queue.close()
        try server.psql("postgres", "DROP DATABASE \(PostgresServer.databaseName(url)) WITH (FORCE)")
    }

    @Test("migrate refuses a database that holds other tables, unless told to share it")
    func foreignDatabase() async throws {
        let server = try PostgresServer.shared()
        let url = try server.createDatabase()
        try server.psql(url: url, "CREATE TABLE shop_orders (id int)")
        let queue = PostgresQueue(location: try PostgresLocation(url: url, defaultUser: "postgres"), node: "m", logger: .init(label: "t"))
        await #expect(throws: StoreError.foreignDatabase(path: queue.location, tables: ["shop_orders"])) { try await queue.migrate() }
        #expect(try await queue.migrate(alongsideOtherTables: true).count == Migration.postgreSQL.count)
        await queue.close()
        try server.psql("postgres", "DROP DATABASE \(PostgresServer.databaseName(url)) WITH (FORCE)")
    }

    @Test("the gate's row cannot be deleted or truncated: a hold, a pause or a halt never vanishes without a record")
    func gateRowKept() async throws {
        try await PostgresTestDatabase.with { database throws in
            for sql in ["DELETE FROM sending_gate", "TRUNCATE sending_gate"] {
                #expect(throws: TestFailure.self) { try database.psql(sql) }
            }
            let rows = try database.psql("SELECT count(*) FROM sending_gate")
            #expect(rows == "1")
        }
    }
}
