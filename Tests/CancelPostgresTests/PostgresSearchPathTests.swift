import CancelQueue
import CancelStore
import Foundation
import Logging
import Testing
import TestSupport

@testable import CancelPostgres

/// Which schema cancelq works in. PostgreSQL's default search_path `"$user", public` puts a schema
/// named after the login role first: cancelq would see another, empty queue there, and `migrate`
/// would make a second one. Such a path is refused by name; a connection keeps to the schema it
/// resolved, whatever is created later.
@Suite("PostgreSQL: the queue's schema", .serialized, .enabled(if: PostgresServer.shouldRun, "\(PostgresServer.skipNote)"))
struct PostgresSearchPathTests {
    func location(_ database: PostgresTestDatabase, as role: String) throws -> PostgresLocation {
        try PostgresLocation(url: database.server.url(database: PostgresServer.databaseName(database.url), user: role), defaultUser: role)
    }

    @Test("a schema named after the login role, before the queue's on the search_path, is refused with both names and the fix; migrate makes no second queue")
    func schemaNamedAfterTheRole() async throws {
        try await PostgresTestDatabase.with { database in
            let role = "operator_\(UInt32.random(in: 0...UInt32.max))"
            try database.psql("CREATE ROLE \(role) LOGIN")
            defer { _ = try? database.server.psql("postgres", "DROP ROLE IF EXISTS \(role)") }
            defer { _ = try? database.psql("DROP OWNED BY \(role)") }
            try database.psql("GRANT USAGE ON SCHEMA public TO \(role); GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA public TO \(role)")
            try database.psql("CREATE SCHEMA \(role) AUTHORIZATION \(role)")
            let expected =
                "schema \(role) comes first in the search_path of role \(role) (\"$user\", public) and holds no cancelq queue, while schema public does: "
                + "cancelq would work on another, empty queue. Drop or rename schema \(role) if nothing needs it, or point the role at the queue: "
                + "ALTER ROLE \(role) SET search_path = public"
            let opening = await #expect(throws: StoreError.self) { try await PostgresQueue.open(location: try location(database, as: role)) }
            #expect(opening?.description.contains(expected) == true, "\(String(describing: opening))")
            let migrating = PostgresQueue(location: try location(database, as: role), node: "m", logger: Logger(label: "t"))
            let migration = await #expect(throws: StoreError.self) { try await migrating.migrate() }
            #expect(migration?.description.contains(expected) == true, "\(String(describing: migration))")
            await migrating.close()
            #expect(try database.psql("SELECT count(*) FROM pg_tables WHERE schemaname = '\(role)'") == "0", "no second queue")
            // What the message says to do works.
            try database.psql("ALTER ROLE \(role) SET search_path = public")
            let queue = try await PostgresQueue.open(location: try location(database, as: role))
            #expect(try await queue.sqlColumn("SELECT current_schema()") == ["public"])
            await queue.close()
        }
    }

    @Test("a daemon's connection keeps to the queue's schema, pg_temp last: a schema made later with a table of cancelq's name does not take its reads")
    func connectionKeepsToItsSchema() async throws {
        try await PostgresTestDatabase.with { database in
            let queue = try database.queue(node: "kept")
            _ = try await queue.enqueue(orderNumber: "REAL-1", paidAt: nil)
            #expect(try await queue.sqlColumn("SHOW search_path") == ["public, pg_temp"])
            // The superuser's own schema, first on its default path, made while the daemon runs.
            try database.psql("CREATE SCHEMA postgres; CREATE TABLE postgres.cancellations (LIKE public.cancellations)")
            defer { _ = try? database.psql("DROP SCHEMA postgres CASCADE") }
            try database.psql("INSERT INTO postgres.cancellations SELECT * FROM public.cancellations; UPDATE postgres.cancellations SET state = 'succeeded'")
            #expect(try await queue.job(orderNumber: "REAL-1")?.job.state == .pending)
            // A new connection is refused rather than fooled.
            await #expect(throws: StoreError.self) { try await PostgresQueue.open(location: database.location) }
            await queue.close()
        }
    }
}
