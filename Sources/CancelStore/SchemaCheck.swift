import CancelQueue
import CancelMigrations
import SQLite

/// Whether the database still has the schema its migrations made: the audit triggers, the
/// constraints (part of each table's SQL) and the indexes the daemon's queries name. Any writer of
/// an SQLite file can drop a trigger; a queue whose audit trail is no longer append-only, or whose
/// insert guard is gone, must not look healthy.
public struct SchemaCheck {
    public struct Problem: Hashable, Sendable, CustomStringConvertible {
        public enum Kind: Hashable, Sendable {
            case missing, altered, unexpected
        }
        public let kind: Kind
        /// `trigger`, `index`, `table` or `view`.
        public let type: String
        public let name: String
        /// Triggers and indexes can be recreated from the migrations; a table cannot.
        public var isRepairable: Bool { type == "trigger" || type == "index" }

        public var description: String {
            switch kind {
            case .missing: "\(type) \(name) is missing"
            case .altered: "\(type) \(name) differs from the one cancelq created"
            case .unexpected where type == "index":
                "unknown index \(name) on a cancelq table is unique, partial or on an expression: it can make cancelq's writes fail"
            case .unexpected: "unknown \(type) \(name) on a cancelq table"
            }
        }
    }

    struct Object: Hashable {
        let type: String
        let name: String
        let table: String
        let sql: String
    }

    /// The schema every fully migrated database has, made once per process in memory.
    static let expected: [String: Object] = {
        var options = Connection.Options()
        options.walJournal = false
        do {
            let memory = try Connection(path: ":memory:", options: options)
            try Migrator().migrate(memory, now: 0)
            return Dictionary(uniqueKeysWithValues: try objects(memory).map { ($0.name, $0) })
        } catch {
            // The embedded migrations apply to an empty database in every test run.
            preconditionFailure("the embedded migrations do not apply to an empty database: \(error)")
        }
    }()

    static func objects(_ db: Connection) throws -> [Object] {
        try db.query(
            "SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%'"
        ) { Object(type: $0.string(0), name: $0.string(1), table: $0.string(2), sql: $0.string(3)) }
    }

    /// Everything that differs from the migrations' schema. Extra views and tables, and plain column
    /// indexes an application added for its queries, are its business. An extra trigger on a cancelq
    /// table is not, nor an index that can refuse cancelq's own writes (a UNIQUE index on the
    /// attempts, say, turns every retry into an error and the daemon into a crash loop).
    public static func problems(_ db: Connection) throws(StoreError) -> [Problem] {
        let actual = try storeErrors { try objects(db) }
        let actualByName = Dictionary(actual.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let ownTables = Set(expected.values.filter { $0.type == "table" }.map(\.name))
        var problems: [Problem] = []
        for object in expected.values.sorted(by: { ($0.type, $0.name) < ($1.type, $1.name) }) {
            guard let found = actualByName[object.name] else {
                problems.append(Problem(kind: .missing, type: object.type, name: object.name))
                continue
            }
            if found.type != object.type || normalized(found.sql) != normalized(object.sql) {
                problems.append(Problem(kind: .altered, type: object.type, name: object.name))
            }
        }
        for object in actual where expected[object.name] == nil && ownTables.contains(object.table) {
            if object.type == "trigger" || (object.type == "index" && !isPlainColumnIndex(object.sql)) {
                problems.append(Problem(kind: .unexpected, type: object.type, name: object.name))
            }
        }
        return problems
    }

    /// Recreates missing or altered triggers and indexes and drops unknown triggers on cancelq's
    /// tables, in one transaction; returns what it could not repair (tables).
    public static func repair(_ db: Connection) throws(StoreError) -> [Problem] {
        try storeErrors {
            try db.transaction {
                var remaining: [Problem] = []
                for problem in try problems(db) {
                    guard problem.isRepairable else {
                        remaining.append(problem)
                        continue
                    }
                    if problem.kind != .missing {
                        try db.execute("DROP \(problem.type.uppercased()) IF EXISTS \"\(problem.name)\"")
                    }
                    if let object = expected[problem.name] { try db.execute(object.sql) }
                }
                return remaining
            }
        }
    }

    /// `CREATE INDEX name ON table (column [ASC|DESC], …)` and nothing else: no UNIQUE, no WHERE,
    /// no expression, so no insert or update can fail because of it.
    static func isPlainColumnIndex(_ sql: String) -> Bool {
        let identifier = #"(?:"[^"]+"|[A-Za-z_][A-Za-z0-9_]*)"#
        let column = identifier + #"(?: (?:ASC|DESC))?"#
        let pattern = #"(?i)CREATE INDEX "# + identifier + " ON " + identifier + #" ?\( ?"# + column + #"(?: ?, ?"# + column
            + #")* ?\)"#
        guard let regex = try? Regex(pattern) else { return false }
        return normalized(sql).wholeMatch(of: regex) != nil
    }

    /// SQLite keeps the text as written; only white space may differ between equal definitions.
    static func normalized(_ sql: String) -> String {
        sql.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }).joined(separator: " ")
    }
}
