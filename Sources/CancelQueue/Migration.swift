import CancelMigrations

/// One migration of the schema, embedded in the binary, checksummed so that an edited migration
/// or a newer database is refused.
public struct Migration: Sendable {
    public let version: Int
    public let name: String
    public let sql: String
    public let checksum: String

    public init(version: Int, name: String, sql: String, checksum: String) {
        self.version = version
        self.name = name
        self.sql = sql
        self.checksum = checksum
    }

    init(embedded entry: (version: Int, name: String, sql: [UInt8])) {
        self.init(
            version: entry.version, name: entry.name, sql: String(decoding: entry.sql, as: UTF8.self),
            checksum: Migration.checksum(entry.sql))
    }

    /// Version, name, text and checksum of every SQLite migration this binary knows, in order.
    public static let sqlite: [Migration] = EmbeddedMigrations.all.map(Migration.init(embedded:))

    /// The same for PostgreSQL (its own numbering).
    public static let postgreSQL: [Migration] = EmbeddedMigrations.postgresql.map(Migration.init(embedded:))

    /// FNV-1a, 64 bits: detects an edited migration (not a defence against an attacker).
    public static func checksum(_ bytes: [UInt8]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        let hex = String(hash, radix: 16)
        return "fnv1a64:" + String(repeating: "0", count: 16 - hex.count) + hex
    }
}
