import CancelQueue
import CancelMigrations
import SQLite

/// Applies the embedded migrations in order, each in its own IMMEDIATE transaction, and records
/// each with a checksum so that an edited migration or a newer database is refused.
public struct Migrator {
    public let migrations: [Migration]

    public init(migrations: [Migration] = Migrator.embedded) {
        self.migrations = migrations.sorted { $0.version < $1.version }
    }

    public static let embedded = Migration.sqlite

    public var latestVersion: Int { migrations.last?.version ?? 0 }

    /// Brings the database up to date; returns the names of the migrations it applied.
    @discardableResult
    public func migrate(_ db: Connection, now: Double) throws(StoreError) -> [String] {
        try storeErrors {
            try db.transaction {
                try db.execute(
                    """
                    CREATE TABLE IF NOT EXISTS schema_migrations (
                        version    INTEGER PRIMARY KEY,
                        name       TEXT NOT NULL,
                        checksum   TEXT NOT NULL,
                        applied_at REAL NOT NULL
                    ) STRICT
                    """)
            }
        }
        try verifyApplied(db)
        var applied: [String] = []
        for migration in migrations {
            // SQLite's procedure for a table rebuild: foreign keys off outside the transaction,
            // checked inside it before the commit.
            try storeErrors { try db.execute("PRAGMA foreign_keys = OFF") }
            defer { try? db.execute("PRAGMA foreign_keys = \(db.options.foreignKeys ? "ON" : "OFF")") }
            let didApply: Bool = try storeErrors {
                try db.transaction {
                    // Checked again under the write lock: another process may have just applied it.
                    let done = try db.queryOne(
                        "SELECT 1 FROM schema_migrations WHERE version = ?", [migration.version]
                    ) { _ in true }
                    guard done == nil else { return false }
                    do throws(SQLiteError) {
                        try db.execute(migration.sql)
                    } catch {
                        throw StoreError.migrationFailed(name: migration.name, DatabaseFailure(error))
                    }
                    let dangling = try db.queryOne("SELECT count(*) FROM pragma_foreign_key_check") { $0.int(0) } ?? 0
                    guard dangling == 0 else {
                        throw StoreError.migrationFailed(
                            name: migration.name,
                            DatabaseFailure(
                                SQLiteError(
                                    extendedCode: 787, message: "\(dangling) row(s) would reference a missing job", sql: nil,
                                    path: db.path, busyTimeout: 0)))
                    }
                    try db.run(
                        "INSERT INTO schema_migrations(version, name, checksum, applied_at) VALUES (?, ?, ?, ?)",
                        migration.version, migration.name, migration.checksum, now)
                    try db.execute("PRAGMA user_version = \(migration.version)")
                    return true
                }
            }
            if didApply { applied.append(migration.name) }
        }
        return applied
    }

    /// The tables of a database that are not cancelq's: a database with such tables and no
    /// cancelq schema is probably not the queue (a mistyped --db), so only `migrate` with
    /// `--alongside-other-tables` adds cancelq's tables to it.
    public func foreignTables(_ db: Connection) throws(StoreError) -> [String] {
        try storeErrors {
            // Rails and others have a schema_migrations table too; cancelq's has a checksum column.
            let hasSchema = try db.queryOne(
                "SELECT 1 FROM pragma_table_info('schema_migrations') WHERE name = 'checksum'") { _ in true }
            guard hasSchema == nil else { return [] }
            return try db.query(
                "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
            ) { $0.string(0) }
        }
    }

    /// Refuses a database migrated by a newer binary, or whose applied migrations differ from ours.
    public func verifyApplied(_ db: Connection) throws(StoreError) {
        let rows: [(Int, String)] = try storeErrors {
            let exists = try db.queryOne(
                "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'"
            ) { _ in true }
            guard exists != nil else { return [] }
            let ours = try db.queryOne("SELECT 1 FROM pragma_table_info('schema_migrations') WHERE name = 'checksum'") { _ in true }
            guard ours != nil else {
                // Another framework's migrations table (Rails, say): the name is taken.
                throw StoreError.foreignDatabase(path: db.path, tables: ["schema_migrations (not cancelq's)"])
            }
            return try db.query("SELECT version, checksum FROM schema_migrations ORDER BY version") {
                ($0.int(0), $0.string(1))
            }
        }
        let known = Dictionary(uniqueKeysWithValues: migrations.map { ($0.version, $0) })
        for (version, checksum) in rows {
            guard let migration = known[version] else {
                throw .databaseNewerThanBinary(databaseVersion: rows.map(\.0).max() ?? version, binaryVersion: latestVersion)
            }
            guard migration.checksum == checksum else {
                throw .migrationChanged(version: version, name: migration.name)
            }
        }
    }

    /// Whether every migration this binary knows has been applied (for read-only openers).
    public func isUpToDate(_ db: Connection) throws(StoreError) -> Bool {
        try verifyApplied(db)
        return try storeErrors {
            let exists = try db.queryOne(
                "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'"
            ) { _ in true }
            guard exists != nil else { return false }
            let count = try db.queryOne("SELECT count(*) FROM schema_migrations") { $0.int(0) } ?? 0
            return count == migrations.count
        }
    }
}
