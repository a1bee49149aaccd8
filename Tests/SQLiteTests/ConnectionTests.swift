import Foundation
import SQLite
import Testing
import TestSupport

/// Kept out of the test body: Swift 6.3 can mix up a closure written in a function with one that
/// `#expect(throws:)` expands there (same discriminator), calling the wrong one at run time.
private func insertOne(_ db: Connection) throws {
    try db.transaction { try db.run("INSERT INTO t VALUES (1)") }
}

@Suite("SQLite wrapper")
struct ConnectionTests {
    @Test("every bindable type round-trips, including NULL, non-ASCII text and binary blobs")
    func bindingRoundTrips() async throws {
        try await withTemporaryDirectory { dir in
            let db = try Connection(path: dir + "/t.db")
            try db.execute("CREATE TABLE t (i INTEGER, r REAL, s TEXT, b BLOB, n ANY)")
            let text = "取消 ✓ Zürich \u{1F6AB}"
            let blob: [UInt8] = [0, 1, 0xFF, 0, 42]
            try db.run(
                "INSERT INTO t VALUES (?, ?, ?, ?, ?)", Int64.min, -0.125, text, blob, Optional<String>.none)
            try db.run("INSERT INTO t VALUES (?, ?, ?, ?, ?)", Int64.max, Double.greatestFiniteMagnitude, "", [UInt8](), true)
            let rows = try db.query("SELECT i, r, s, b, n FROM t ORDER BY rowid") { row in
                [row.value(0), row.value(1), row.value(2), row.value(3), row.value(4)]
            }
            #expect(rows[0] == [.integer(Int64.min), .real(-0.125), .text(text), .blob(blob), .null])
            #expect(rows[1] == [.integer(Int64.max), .real(.greatestFiniteMagnitude), .text(""), .blob([]), .integer(1)])
            let optional = try db.queryOne("SELECT n FROM t WHERE i = ?", [Int64.min]) { $0.optionalString(0) }
            #expect(optional == .some(nil))
        }
    }

    @Test("a write transaction is rolled back when its body throws")
    func rollbackOnThrow() async throws {
        struct Boom: Error {}
        try await withTemporaryDirectory { dir in
            let db = try Connection(path: dir + "/t.db")
            try db.execute("CREATE TABLE t (x INTEGER)")
            #expect(throws: Boom.self) {
                try db.transaction {
                    try db.run("INSERT INTO t VALUES (1)")
                    throw Boom()
                }
            }
            #expect(!db.isInTransaction)
            #expect(try db.queryOne("SELECT count(*) FROM t") { $0.int(0) } == 0)
            try db.transaction { try db.run("INSERT INTO t VALUES (2)") }
            #expect(try db.queryOne("SELECT count(*) FROM t") { $0.int(0) } == 1)
        }
    }

    @Test("a writer waits up to its busy timeout for another's write lock, then gets a typed locked error")
    func busyTimeoutThenLocked() async throws {
        try await withTemporaryDirectory { dir in
            let holder = try Connection(path: dir + "/t.db")
            try holder.execute("CREATE TABLE t (x INTEGER)")
            var options = Connection.Options()
            options.busyTimeout = 0.4
            let waiter = try Connection(path: dir + "/t.db", options: options)
            try holder.execute("BEGIN IMMEDIATE")
            let start = Date()
            let error = #expect(throws: SQLiteError.self) { try insertOne(waiter) }
            let waited = Date().timeIntervalSince(start)
            #expect(waited >= 0.35, "gave up after \(waited) s, before its busy timeout")
            #expect(error?.isLocked == true)
            #expect(error?.description.contains("database is locked") == true)
            #expect(error?.description.contains("0.4 s busy timeout") == true)
            try holder.execute("COMMIT")
            // Once the lock is released the same write goes through.
            #expect(!waiter.isInTransaction, "a failed BEGIN must not leave a transaction open")
            try insertOne(waiter)
        }
    }

    @Test("an error's description carries the SQL that failed and SQLite's message")
    func errorCarriesSQL() async throws {
        try await withTemporaryDirectory { dir in
            let db = try Connection(path: dir + "/t.db")
            let error = #expect(throws: SQLiteError.self) { try db.run("SELECT * FROM no_such_table") }
            #expect(error?.sql == "SELECT * FROM no_such_table")
            #expect(error?.description.contains("no such table: no_such_table") == true)
            #expect(error?.description.contains("in SQL: SELECT * FROM no_such_table") == true)
        }
    }

    @Test("a read-only connection never creates a file and cannot write")
    func readOnly() async throws {
        try await withTemporaryDirectory { dir in
            let missing = #expect(throws: SQLiteError.self) { try Connection(path: dir + "/missing.db", options: .reader) }
            #expect(missing?.description.contains("cannot open") == true)
            #expect(!FileManager.default.fileExists(atPath: dir + "/missing.db"))
            let writer = try Connection(path: dir + "/t.db")
            try writer.execute("CREATE TABLE t (x INTEGER)")
            let reader = try Connection(path: dir + "/t.db", options: .reader)
            let error = #expect(throws: SQLiteError.self) { try reader.run("INSERT INTO t VALUES (1)") }
            #expect(error?.primaryCode == 8)  // SQLITE_READONLY
        }
    }

    @Test("a file that is not a database is reported as such")
    func notADatabase() async throws {
        try await withTemporaryDirectory { dir in
            try Data(repeating: 0x41, count: 4096).write(to: URL(fileURLWithPath: dir + "/junk"))
            let error = #expect(throws: SQLiteError.self) { try Connection(path: dir + "/junk") }
            #expect(error?.isNotADatabase == true)
            #expect(error?.description.contains("is not an SQLite database") == true)
        }
    }

    @Test("WAL, synchronous=FULL and foreign keys are on for writers")
    func pragmas() async throws {
        try await withTemporaryDirectory { dir in
            let db = try Connection(path: dir + "/t.db")
            #expect(try db.queryOne("PRAGMA journal_mode") { $0.string(0) } == "wal")
            #expect(try db.queryOne("PRAGMA synchronous") { $0.int(0) } == 2)
            #expect(try db.queryOne("PRAGMA foreign_keys") { $0.int(0) } == 1)
        }
    }

    @Test("data_version changes when another connection commits, not on our own reads")
    func dataVersion() async throws {
        try await withTemporaryDirectory { dir in
            let a = try Connection(path: dir + "/t.db")
            try a.execute("CREATE TABLE t (x INTEGER)")
            let b = try Connection(path: dir + "/t.db")
            let before = try a.dataVersion()
            #expect(try a.dataVersion() == before)
            try b.run("INSERT INTO t VALUES (1)")
            #expect(try a.dataVersion() != before)
        }
    }

    @Test("binding the wrong number of parameters is an error, not a silent NULL")
    func parameterCount() async throws {
        try await withTemporaryDirectory { dir in
            let db = try Connection(path: dir + "/t.db")
            try db.execute("CREATE TABLE t (x INTEGER, y INTEGER)")
            let error = #expect(throws: SQLiteError.self) { try db.run("INSERT INTO t VALUES (?, ?)", 1) }
            #expect(error?.description.contains("takes 2 parameters, 1 given") == true)
        }
    }
}
