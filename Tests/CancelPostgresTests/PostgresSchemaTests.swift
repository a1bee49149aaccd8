import CancelStore
import Foundation
import Logging
import QueueStoreConformance
import Testing
import TestSupport

@testable import CancelPostgres

/// The contract with applications, enforced by the PostgreSQL schema itself: tried the way a buggy
/// or hostile application would, with plain SQL from another connection.
@Suite("PostgreSQL schema", .serialized, .enabled(if: PostgresServer.shouldRun, "\(PostgresServer.skipNote)"))
struct PostgresSchemaTests {
    /// The error psql printed for `sql`, which must fail.
    func refusal(_ database: PostgresTestDatabase, _ sql: String) -> String {
        do {
            let output = try database.psql(sql)
            return "NOT REFUSED: \(output)"
        } catch {
            return "\(error)"
        }
    }

    @Test("an application's insert sets order_number and paid_at only; every other way in is refused")
    func insertGuard() async throws {
        try await PostgresTestDatabase.with { database in
            try database.psql("INSERT INTO cancellations(order_number, paid_at) VALUES ('APP-1', extract(epoch from now()) - 30)")
            try database.psql("INSERT INTO cancellations(order_number) VALUES ('APP-2')")
            let sneaky = [
                "INSERT INTO cancellations(order_number, state) VALUES ('S-1', 'sent')",
                "INSERT INTO cancellations(order_number, state) VALUES ('S-2', 'succeeded')",
                "INSERT INTO cancellations(order_number, due_at) VALUES ('S-3', 0)",
                "INSERT INTO cancellations(order_number, attempt_count) VALUES ('S-4', 5)",
                "INSERT INTO cancellations(order_number, request_count) VALUES ('S-5', 1)",
                "INSERT INTO cancellations(order_number, outcome) VALUES ('S-6', 'cancelled')",
                "INSERT INTO cancellations(order_number, created_at) VALUES ('S-7', 0)",
                "INSERT INTO cancellations(order_number, owner) VALUES ('S-8', 'x')",
                "INSERT INTO cancellations(order_number, interruptions) VALUES ('S-9', 1)",
                "INSERT INTO cancellations(order_number, last_status) VALUES ('S-10', 'success')",
                "INSERT INTO cancellations OVERRIDING SYSTEM VALUE VALUES (424242, 'S-11')",
            ]
            for sql in sneaky {
                let error = refusal(database, sql)
                #expect(error.contains("insert_sets_only_order_number_and_paid_at"), "\(sql): \(error)")
            }
            #expect(refusal(database, "INSERT INTO cancellations(id, order_number) VALUES (77, 'S-12')").contains("GENERATED ALWAYS"))
            #expect(try database.psql("SELECT count(*) FROM cancellations") == "2")
        }
    }

    @Test("order numbers follow ZEUS's field rules; paid_at is seconds, never NaN, never far ahead")
    func fieldRules() async throws {
        try await PostgresTestDatabase.with { database in
            let rule = "order_number_must_be_1_to_50_bytes_of_printable_ascii_without_s"
            for bad in ["''", "'has space'", "'ÄÖ'", "E'tab\\there'", "'\(String(repeating: "x", count: 51))'", "E'nul\\x01'"] {
                #expect(refusal(database, "INSERT INTO cancellations(order_number) VALUES (\(bad))").contains(rule), "\(bad)")
            }
            #expect(refusal(database, "INSERT INTO cancellations(order_number, paid_at) VALUES ('P-1', 1800000000000)")
                .contains("paid_at_must_not_be_in_the_future"))
            #expect(refusal(database, "INSERT INTO cancellations(order_number, paid_at) VALUES ('P-2', 'NaN')")
                .contains("paid_at_must_be_unix_seconds_or_null"))
            #expect(refusal(database, "INSERT INTO cancellations(order_number, paid_at) VALUES ('P-3', '-Infinity')")
                .contains("paid_at_must_be_unix_seconds_or_null"))
            #expect(refusal(database, "INSERT INTO cancellations(order_number) VALUES ('P-4'), ('P-4')").contains("order_number_already_enqueued"))
        }
    }

    @Test("the audit trail is append-only: no update of a completed attempt, no delete, no truncate, no orphan")
    func appendOnly() async throws {
        try await PostgresTestDatabase.with { database in
            try database.psql("INSERT INTO cancellations(order_number) VALUES ('A-1')")
            try database.psql(
                "INSERT INTO cancellation_attempts(cancellation_id, attempt, started_at, completed_at, result_status, result_code) SELECT id, 1, 1, 2, 'success', '000' FROM cancellations")
            #expect(refusal(database, "UPDATE cancellation_attempts SET result_code = '999'").contains("cannot be changed"))
            #expect(refusal(database, "DELETE FROM cancellation_attempts").contains("cannot be deleted"))
            #expect(refusal(database, "TRUNCATE cancellation_attempts").contains("cannot be deleted"))
            #expect(refusal(database, "DELETE FROM cancellations").contains("attempts_keep_their_job"))
            #expect(refusal(database, "INSERT INTO cancellation_attempts(cancellation_id, attempt, started_at) VALUES (999, 1, 1)")
                .contains("attempts_keep_their_job"))
            #expect(refusal(database, "UPDATE cancellations SET order_number = 'B-1'").contains("never change once queued"))
            #expect(refusal(database, "UPDATE cancellations SET paid_at = 1").contains("never change once queued"))
            #expect(try database.psql("SELECT count(*) FROM cancellation_attempts") == "1")
        }
    }

    @Test("an application withdraws with one insert; too late, unknown, and every other way in are refused by name")
    func withdrawals() async throws {
        try await PostgresTestDatabase.with { database in
            try database.psql("INSERT INTO cancellations(order_number) VALUES ('W-1'), ('W-2'), ('W-3'), ('W-4')")
            try database.psql("INSERT INTO operator_actions(at, action, detail, operator) VALUES (1, 'resume', '', 'alice')")
            try database.psql("INSERT INTO cancellation_withdrawals(order_number, reason) VALUES ('W-1', 'ordered twice')")
            #expect(try database.psql("SELECT state || '/' || outcome FROM cancellations WHERE order_number = 'W-1'") == "withdrawn/withdrawn")
            try database.psql("UPDATE cancellations SET state = 'sent', owner = 'node-x' WHERE order_number = 'W-2'")
            try database.psql("UPDATE cancellations SET state = 'succeeded', outcome = 'cancelled' WHERE order_number = 'W-3'")
            let refusals = [
                ("INSERT INTO cancellation_withdrawals(order_number) VALUES ('NOPE')", "withdrawal_order_unknown"),
                ("INSERT INTO cancellation_withdrawals(order_number) VALUES ('W-2')", "withdrawal_too_late_request_in_flight"),
                ("INSERT INTO cancellation_withdrawals(order_number) VALUES ('W-3')", "withdrawal_too_late_job_final"),
                ("INSERT INTO cancellation_withdrawals(order_number) VALUES ('W-1')", "withdrawal_too_late_job_final"),
                ("INSERT INTO cancellation_withdrawals(order_number, at) VALUES ('W-2', 0)", "withdrawal_insert_sets_only_order_number_and_reason"),
                ("UPDATE cancellations SET state = 'withdrawn' WHERE order_number = 'W-2'", "withdraw_by_insert"),
                ("UPDATE cancellations SET state = 'pending' WHERE order_number = 'W-1'", "withdrawn_is_final"),
                ("UPDATE cancellation_withdrawals SET reason = 'x'", "cannot be changed or deleted"),
                ("DELETE FROM cancellation_withdrawals", "cannot be changed or deleted"),
                ("DELETE FROM cancellations WHERE order_number = 'W-1'", "cannot be deleted"),
                ("DELETE FROM operator_actions", "cannot be changed or deleted"),
                ("INSERT INTO cancellation_withdrawals(order_number, reason) VALUES ('W-4', repeat('x', 1001))", "withdrawal_reason_at_most_1000_bytes"),
            ]
            for (sql, name) in refusals {
                let error = refusal(database, sql)
                #expect(error.contains(name), "\(sql): \(error)")
            }
            #expect(try database.psql("SELECT count(*) FROM cancellation_withdrawals") == "1")
        }
    }

    @Test("migrate is idempotent; an edited or newer migration is refused by name")
    func migrations() async throws {
        try await PostgresTestDatabase.with { database in
            let queue = try database.queue(node: "m")
            #expect(try await queue.migrate().isEmpty)
            try await queue.requireMigrated()
            let edited = Migrator.embeddedPostgreSQL.map {
                Migrator.Migration(version: $0.version, name: $0.name, sql: $0.sql + "\n-- edited", checksum: "fnv1a64:0")
            }
            await #expect(throws: StoreError.migrationChanged(version: 1, name: "0001_postgresql_queue.sql")) {
                try await queue.requireMigrated(migrations: edited)
            }
            // The record cannot be edited or shortened to hide what was applied.
            for tamper in ["UPDATE schema_migrations SET checksum = 'x'", "DELETE FROM schema_migrations", "TRUNCATE schema_migrations"] {
                #expect(throws: TestFailure.self, "\(tamper)") { try database.psql(tamper) }
            }
            #expect(try database.psql("SELECT count(*) FROM schema_migrations") == "\(Migrator.embeddedPostgreSQL.count)")
            try database.psql("INSERT INTO schema_migrations VALUES (99, '0099_future.sql', 'x', 0)")
            await #expect(throws: StoreError.databaseNewerThanBinary(databaseVersion: 99, binaryVersion: Migrator.embeddedPostgreSQL.count)) {
                try await queue.requireMigrated()
            }
            await queue.close()
        }
    }

    @Test("a database without cancelq's schema is refused with what to run")
    func notMigrated() async throws {
        let server = try PostgresServer.shared()
        let url = try server.createDatabase()
        let location = try PostgresLocation(url: url, defaultUser: "postgres")
        let error = await #expect(throws: StoreError.self) { try await PostgresQueue.open(location: location) }
        #expect(error?.description.contains("cancelq migrate --db postgresql://postgres@127.0.0.1") == true, "\(String(describing: error))")
        try server.psql("postgres", "DROP DATABASE \(PostgresServer.databaseName(url))")
    }

    @Test("a wrong password is refused with what to check, and never shown")
    func wrongPassword() async throws {
        let server = try PostgresServer.shared()
        var location = try PostgresLocation(url: server.url(database: "postgres", user: PostgresServer.passwordRole), defaultUser: "x")
        location.password = "not-the-password-\(PostgresServer.password.count)"
        let error = await #expect(throws: StoreError.self) { try await PostgresQueue.open(location: location) }
        #expect(error?.description.contains("refused the login") == true, "\(String(describing: error))")
        #expect(error?.description.contains("not-the-password") == false)
        location.password = nil
        let none = await #expect(throws: StoreError.self) { try await PostgresQueue.open(location: location) }
        #expect(none?.description.contains("password") == true, "\(String(describing: none))")
    }
}

/// The schema check on PostgreSQL: what an owner's mistake (or worse) does to the guards is seen,
/// refused by `run`, reported by `status --check`, and undone by `migrate` where it can be.
@Suite("PostgreSQL schema check", .serialized, .enabled(if: PostgresServer.shouldRun, "\(PostgresServer.skipNote)"))
struct PostgresSchemaCheckTests {
    /// The statement of migration 2 that creates `cancelq_apply_write`, as the migration has it.
    static var writeFunction: String {
        SQLScript.statements(Migrator.embeddedPostgreSQL[1].sql).first { $0.hasPrefix("CREATE FUNCTION cancelq_apply_write") }!
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
            let claims = try await queue.dueJobs(now: QueueStoreConformance.t0, limit: 1).map { try QueueStoreConformance.claimed($0, at: QueueStoreConformance.t0) }
            await #expect(throws: StoreError.self) { try await queue.commit(claims, gate: nil, now: QueueStoreConformance.t0) }
            do {
                _ = try await queue.commit(claims, gate: nil, now: QueueStoreConformance.t0)
            } catch {
                #expect("\(error)".contains("cancelq_apply_write reported writes it did not make"), "\(error)")
            }
            #expect(try database.psql("SELECT state || '/' || (SELECT count(*) FROM cancellation_attempts) FROM cancellations") == "waiting-delay/0")
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
        #expect(try await queue.migrate(migrations: Array(Migrator.embeddedPostgreSQL.prefix(1))) == ["0001_postgresql_queue.sql"])
        await #expect(throws: StoreError.schemaBehind(path: queue.location, databaseVersion: 1, binaryVersion: 3)) {
            try await queue.requireMigrated()
        }
        #expect(try await queue.migrate() == ["0002_apply_write.sql", "0003_no_bypass.sql"])
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
        #expect(try await queue.migrate(alongsideOtherTables: true).count == Migrator.embeddedPostgreSQL.count)
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
