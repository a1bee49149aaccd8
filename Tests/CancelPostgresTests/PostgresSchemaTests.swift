import CancelQueue
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
            let edited = Migration.postgreSQL.map {
                Migration(version: $0.version, name: $0.name, sql: $0.sql + "\n-- edited", checksum: "fnv1a64:0")
            }
            await #expect(throws: StoreError.migrationChanged(version: 1, name: "0001_postgresql_queue.sql")) {
                try await queue.requireMigrated(migrations: edited)
            }
            // The record cannot be edited or shortened to hide what was applied.
            for tamper in ["UPDATE schema_migrations SET checksum = 'x'", "DELETE FROM schema_migrations", "TRUNCATE schema_migrations"] {
                #expect(throws: TestFailure.self, "\(tamper)") { try database.psql(tamper) }
            }
            #expect(try database.psql("SELECT count(*) FROM schema_migrations") == "\(Migration.postgreSQL.count)")
            try database.psql("INSERT INTO schema_migrations VALUES (99, '0099_future.sql', 'x', 0)")
            await #expect(throws: StoreError.databaseNewerThanBinary(databaseVersion: 99, binaryVersion: Migration.postgreSQL.count)) {
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
