/// The schema's migrations, embedded at build time (`.embedInCode`), in the order they apply.
public enum EmbeddedMigrations {
    /// Version, file name and SQL text of every SQLite migration this binary knows.
    public static let all: [(version: Int, name: String, sql: [UInt8])] = [
        (1, "0001_initial.sql", PackageResources._001_initial_sql),
        (2, "0002_state_counts.sql", PackageResources._002_state_counts_sql),
        (3, "0003_hardening.sql", PackageResources._003_hardening_sql),
        (4, "0004_guard_rails.sql", PackageResources._004_guard_rails_sql),
        (5, "0005_no_bypass.sql", PackageResources._005_no_bypass_sql),
    ]

    /// The same for PostgreSQL (its own numbering: it starts with everything SQLite reached).
    public static let postgresql: [(version: Int, name: String, sql: [UInt8])] = [
        (1, "0001_postgresql_queue.sql", PackageResources._001_postgresql_queue_sql),
        (2, "0002_apply_write.sql", PackageResources._002_apply_write_sql),
        (3, "0003_no_bypass.sql", PackageResources._003_no_bypass_sql),
        (4, "0004_plans_without_statistics.sql", PackageResources._004_plans_without_statistics_sql),
    ]
}
