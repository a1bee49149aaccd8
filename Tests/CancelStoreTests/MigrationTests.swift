import Foundation
import SQLite
import Testing
import TestSupport

@testable import CancelQueue
@testable import CancelStore

@Suite("Migrations")
struct MigrationTests {
    @Test("a fresh database gets every migration, each recorded with its checksum")
    func fresh() async throws {
        try await withTemporaryDirectory { dir in
            let db = try Connection(path: dir + "/q.db")
            let applied = try Migrator().migrate(db, now: 1)
            #expect(applied == Migrator.embedded.map(\.name))
            let recorded = try db.query("SELECT version, checksum FROM schema_migrations ORDER BY version") {
                "\($0.int(0)) \($0.string(1))"
            }
            #expect(recorded == Migrator.embedded.map { "\($0.version) \($0.checksum)" })
            #expect(try db.queryOne("PRAGMA user_version") { $0.int(0) } == Migrator().latestVersion)
        }
    }

    @Test("running the migrations again changes nothing")
    func rerunIsNoOp() async throws {
        try await withTemporaryDirectory { dir in
            let db = try Connection(path: dir + "/q.db")
            try Migrator().migrate(db, now: 1)
            #expect(try Migrator().migrate(db, now: 2).isEmpty)
            #expect(try db.queryOne("SELECT max(applied_at) FROM schema_migrations") { $0.double(0) } == 1)
        }
    }

    @Test("an applied migration whose text changed stops with a clear error")
    func tamperedChecksum() async throws {
        try await withTemporaryDirectory { dir in
            let db = try Connection(path: dir + "/q.db")
            try Migrator().migrate(db, now: 1)
            let edited = Migrator.embedded.map {
                Migration(version: $0.version, name: $0.name, sql: $0.sql + "\n-- edited", checksum: "fnv1a64:0")
            }
            let error = #expect(throws: StoreError.self) { try Migrator(migrations: edited).migrate(db, now: 2) }
            #expect(error == .migrationChanged(version: 1, name: "0001_initial.sql"))
            #expect(error?.description.contains("different text") == true)
        }
    }

    @Test("a database migrated by a newer binary is refused")
    func newerDatabase() async throws {
        try await withTemporaryDirectory { dir in
            let db = try Connection(path: dir + "/q.db")
            try Migrator().migrate(db, now: 1)
            try db.run(
                "INSERT INTO schema_migrations(version, name, checksum, applied_at) VALUES (99, '0099_future.sql', 'x', 1)")
            let error = #expect(throws: StoreError.self) { try Migrator().migrate(db, now: 2) }
            #expect(error == .databaseNewerThanBinary(databaseVersion: 99, binaryVersion: Migrator().latestVersion))
        }
    }

    @Test("a failing migration is rolled back whole and names itself")
    func failingMigrationRollsBack() async throws {
        try await withTemporaryDirectory { dir in
            let db = try Connection(path: dir + "/q.db")
            let broken = [Migration(version: 1, name: "0001_broken.sql", sql: "CREATE TABLE a (x); SELEC nonsense;", checksum: "c")]
            let error = #expect(throws: StoreError.self) { try Migrator(migrations: broken).migrate(db, now: 1) }
            #expect(error?.description.contains("0001_broken.sql failed and was rolled back") == true)
            #expect(try db.queryOne("SELECT count(*) FROM sqlite_schema WHERE name = 'a'") { $0.int(0) } == 0)
        }
    }

    @Test("every .sql file in Migrations/sqlite and Migrations/postgresql is embedded, in order", arguments: [
        ("sqlite", Migrator.embedded), ("postgresql", Migration.postgreSQL),
    ])
    func embeddedListMatchesDirectory(folder: String, embedded: [Migration]) throws {
        let migrationsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Migrations/\(folder)")
        let files = try FileManager.default.contentsOfDirectory(atPath: migrationsDirectory.path)
            .filter { $0.hasSuffix(".sql") }.sorted()
        #expect(!files.isEmpty)
        #expect(files == embedded.map(\.name))
        #expect(embedded.map(\.version) == Array(1...files.count))
        for migration in embedded {
            let onDisk = try String(contentsOf: migrationsDirectory.appendingPathComponent(migration.name), encoding: .utf8)
            #expect(onDisk == migration.sql, "\(migration.name) differs from the embedded copy")
        }
    }
}
