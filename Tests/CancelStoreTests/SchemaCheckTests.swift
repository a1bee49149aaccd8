import Foundation
import SQLite
import Testing
import TestSupport

@testable import CancelQueue
@testable import CancelStore

/// The checks that catch a schema changed behind cancelq's back, and the paths that are not a queue.
@Suite("Schema check and database paths")
struct SchemaCheckTests {
    @Test("a fresh database has no problem; a dropped audit trigger, an altered index and a foreign trigger are found and repaired")
    func droppedTriggerFoundAndRepaired() async throws {
        try await withTemporaryDirectory { dir in
            let store = try CancelStore.open(path: dir + "/q.db", create: true)
            #expect(try store.schemaProblems().isEmpty)
            let db = store.connection
            try db.execute("DROP TRIGGER cancellation_attempts_are_never_deleted")
            try db.execute("DROP INDEX cancellations_due; CREATE INDEX cancellations_due ON cancellations (id)")
            try db.execute(
                "CREATE TRIGGER sneaky AFTER UPDATE ON cancellations BEGIN UPDATE cancellations SET state = 'succeeded' WHERE id = NEW.id; END")
            let problems = try store.schemaProblems().map(\.description)
            #expect(problems.contains("trigger cancellation_attempts_are_never_deleted is missing"), "\(problems)")
            #expect(problems.contains("index cancellations_due differs from the one cancelq created"), "\(problems)")
            #expect(problems.contains("unknown trigger sneaky on a cancelq table"), "\(problems)")
            #expect(try SchemaCheck.repair(db).isEmpty)
            #expect(try store.schemaProblems().isEmpty)
            try db.run("INSERT INTO cancellations(order_number) VALUES ('A')")
            try db.run("INSERT INTO cancellation_attempts(cancellation_id, attempt, started_at) VALUES (1, 1, 1)")
            #expect(throws: SQLiteError.self) { try db.run("DELETE FROM cancellation_attempts") }
        }
    }

    @Test("a plain column index an application added for its own queries is not a problem")
    func applicationIndexIsFine() async throws {
        try await withTemporaryDirectory { dir in
            let store = try CancelStore.open(path: dir + "/q.db", create: true)
            try store.connection.execute("CREATE INDEX app_by_created ON cancellations (created_at DESC, state)")
            try store.connection.execute("CREATE INDEX \"app by code\" ON cancellation_attempts (result_code)")
            #expect(try store.schemaProblems().isEmpty)
        }
    }

    @Test(
        "an index that can refuse cancelq's writes (unique, partial, expression) is a problem and migrate drops it",
        arguments: [
            "CREATE UNIQUE INDEX x ON cancellation_attempts (cancellation_id)",
            "CREATE INDEX x ON cancellation_attempts (json(error))",
            "CREATE INDEX x ON cancellations (state) WHERE state = 'sent'",
        ])
    func writeBreakingIndex(_ sql: String) async throws {
        try await withTemporaryDirectory { dir in
            let store = try CancelStore.open(path: dir + "/q.db", create: true)
            try store.connection.execute(sql)
            #expect(try store.schemaProblems().map(\.description).contains { $0.contains("unknown index x") })
            #expect(try SchemaCheck.repair(store.connection).isEmpty)
            #expect(try store.schemaProblems().isEmpty)
        }
    }

    @Test("a database with other tables and no cancelq schema is refused unless asked explicitly")
    func foreignDatabase() async throws {
        try await withTemporaryDirectory { dir in
            let other = try Connection(path: dir + "/shop.db")
            try other.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY); CREATE TABLE users (id INTEGER PRIMARY KEY)")
            let error = #expect(throws: StoreError.self) { try CancelStore.open(path: dir + "/shop.db", create: true) }
            #expect(error == .foreignDatabase(path: dir + "/shop.db", tables: ["orders", "users"]))
            #expect(try other.queryOne("SELECT count(*) FROM sqlite_schema WHERE name = 'cancellations'") { $0.int(0) } == 0)
            _ = try CancelStore.open(path: dir + "/shop.db", create: true, alongsideOtherTables: true)
            #expect(try other.queryOne("SELECT count(*) FROM sqlite_schema WHERE name = 'cancellations'") { $0.int(0) } == 1)
        }
    }

    @Test("a directory, a missing parent or a missing file say what is wrong and create nothing")
    func wrongPaths() async throws {
        await withTemporaryDirectory { dir in
            #expect(throws: StoreError.isDirectory(path: dir)) { try CancelStore.openReadOnly(path: dir) }
            #expect(throws: StoreError.isDirectory(path: dir)) { try CancelStore.open(path: dir, create: true) }
            #expect(throws: StoreError.parentDirectoryMissing(path: dir + "/nope/q.db", directory: dir + "/nope")) {
                try CancelStore.open(path: dir + "/nope/q.db", create: true)
            }
            #expect(throws: StoreError.databaseMissing(path: dir + "/q.db")) { try CancelStore.open(path: dir + "/q.db") }
            #expect((try? FileManager.default.contentsOfDirectory(atPath: dir))?.isEmpty == true)
        }
    }

    @Test("a new database is group-writable (0660) whatever the umask")
    func groupWritable() async throws {
        try await withTemporaryDirectory { dir in
            let previous = umask(0o022)
            defer { umask(previous) }
            let store = try CancelStore.open(path: dir + "/q.db", create: true)
            defer { withExtendedLifetime(store) {} }
            var info = stat()
            #expect(stat(dir + "/q.db", &info) == 0)
            #expect(info.st_mode & 0o777 == 0o660)
            #expect(stat(dir + "/q.db-wal", &info) == 0)
            #expect(info.st_mode & 0o777 == 0o660, "SQLite gives the -wal the database's mode")
        }
    }

    @Test("a version-2 database with jobs and attempts migrates to the eight states, keeping every row and count")
    func upgradeKeepsRows() async throws {
        try await withTemporaryDirectory { dir in
            let db = try Connection(path: dir + "/q.db")
            try Migrator(migrations: Array(Migrator.embedded.prefix(2))).migrate(db, now: 1)
            try db.run("INSERT INTO cancellations(order_number, state, outcome) VALUES ('OLD-1', 'succeeded', 'cancelled'), ('OLD-2', 'retrying', NULL)")
            try db.run("INSERT INTO cancellation_attempts(cancellation_id, attempt, started_at, completed_at, result_status, result_code) VALUES (1, 1, 5, 6, 'success', '000')")
            try Migrator().migrate(db, now: 2)
            #expect(try db.query("SELECT order_number || ' ' || state FROM cancellations ORDER BY id") { $0.string(0) } == ["OLD-1 succeeded", "OLD-2 retrying"])
            #expect(try db.queryOne("SELECT count(*) FROM cancellation_attempts WHERE cancellation_id = 1") { $0.int(0) } == 1)
            #expect(try db.queryOne("SELECT jobs FROM cancellation_state_counts WHERE state = 'retrying'") { $0.int(0) } == 1)
            #expect(try db.queryOne("SELECT count(*) FROM pragma_foreign_key_check") { $0.int(0) } == 0)
            // A withdrawal is an insert; setting the state by hand is refused (0004).
            #expect(throws: SQLiteError.self) {
                try db.run("UPDATE cancellations SET state = 'withdrawn', outcome = 'withdrawn' WHERE order_number = 'OLD-2'")
            }
            try db.run("INSERT INTO cancellation_withdrawals(order_number, reason) VALUES ('OLD-2', 'queued by mistake')")
            #expect(try db.queryOne("SELECT jobs FROM cancellation_state_counts WHERE state = 'withdrawn'") { $0.int(0) } == 1)
            #expect(try SchemaCheck.problems(db).isEmpty)
        }
    }
}
