import CancelQueue
import PostgresNIO

/// `cancelq migrate` on PostgreSQL: the embedded migrations, each in its own transaction, recorded
/// with a checksum as on SQLite. An advisory lock makes two `migrate` at once take turns.
extension PostgresQueue {
    static let migrationLock = "SELECT pg_advisory_xact_lock(7310004117)"

    /// Brings the schema up to date; returns the names of the migrations applied.
    @discardableResult
    public func migrate(
        migrations: [Migration] = Migration.postgreSQL, alongsideOtherTables: Bool = false
    ) async throws(StoreError) -> [String] {
        try await session.transaction { () async throws(StoreError) in
            try await session.rows(PostgresQuery(unsafeSQL: Self.migrationLock))
            // A database with other tables and no cancelq schema is probably not the queue (a mistyped --db).
            var foreign: [String] = []
            if try await !hasOurMigrationsTable() {
                for row in try await session.rows(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY 1")
                {
                    foreign.append(try row.value(0))
                }
            }
            if !foreign.isEmpty && !alongsideOtherTables { throw .foreignDatabase(path: location, tables: foreign) }
            try await session.rows(
                """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version    integer PRIMARY KEY,
                    name       text NOT NULL,
                    checksum   text NOT NULL,
                    applied_at double precision NOT NULL
                )
                """)
        }
        var applied: [String] = []
        for migration in migrations.sorted(by: { $0.version < $1.version }) {
            let didApply = try await session.transaction { () async throws(StoreError) -> Bool in
                try await session.rows(PostgresQuery(unsafeSQL: Self.migrationLock))
                let done = try await appliedMigrations()
                try verify(done, against: migrations)
                guard done[migration.version] == nil else { return false }
                for statement in SQLScript.statements(migration.sql) {
                    do {
                        try await session.rows(PostgresQuery(unsafeSQL: statement))
                    } catch {
                        throw .server(location: location, message: "migration \(migration.name) failed and was rolled back: \(error)", constraint: nil)
                    }
                }
                var binds = PostgresBindings()
                binds.append(migration.version)
                binds.append(migration.name)
                binds.append(migration.checksum)
                try await session.rows(
                    PostgresQuery(
                        unsafeSQL: "INSERT INTO schema_migrations(version, name, checksum, applied_at) VALUES ($1, $2, $3, cancelq_now())",
                        binds: binds))
                return true
            }
            if didApply { applied.append(migration.name) }
        }
        return applied
    }

    /// Refuses a database without cancelq's schema, one migrated by a newer binary, or one whose
    /// migrations differ from this binary's.
    func requireMigrated(migrations: [Migration] = Migration.postgreSQL) async throws(StoreError) {
        guard try await hasOurMigrationsTable() else { throw .notMigrated(path: location) }
        let done = try await appliedMigrations()
        try verify(done, against: migrations)
        guard done.count == migrations.count else {
            guard let reached = done.keys.max() else { throw .notMigrated(path: location) }
            throw .schemaBehind(path: location, databaseVersion: reached, binaryVersion: migrations.map(\.version).max() ?? 0)
        }
    }

    /// cancelq's `schema_migrations` (with its checksum column), not another framework's.
    private func hasOurMigrationsTable() async throws(StoreError) -> Bool {
        try await session.rows(
            """
            SELECT EXISTS (SELECT 1 FROM information_schema.columns
                           WHERE table_schema = current_schema() AND table_name = 'schema_migrations' AND column_name = 'checksum')
            """
        ).first?.value(0) ?? false
    }

    private func appliedMigrations() async throws(StoreError) -> [Int: String] {
        var applied: [Int: String] = [:]
        for row in try await session.rows("SELECT version, checksum FROM schema_migrations") {
            applied[try row.value(0, as: Int.self)] = try row.value(1, as: String.self)
        }
        return applied
    }

    private func verify(_ applied: [Int: String], against migrations: [Migration]) throws(StoreError) {
        let known = Dictionary(uniqueKeysWithValues: migrations.map { ($0.version, $0) })
        let latest = migrations.map(\.version).max() ?? 0
        for (version, checksum) in applied.sorted(by: { $0.key < $1.key }) {
            guard let migration = known[version] else {
                throw .databaseNewerThanBinary(databaseVersion: applied.keys.max() ?? version, binaryVersion: latest)
            }
            guard migration.checksum == checksum else { throw .migrationChanged(version: version, name: migration.name) }
        }
    }

    /// The schema version this binary brings the database to.
    public static var latestVersion: Int { Migration.postgreSQL.map(\.version).max() ?? 0 }
}
