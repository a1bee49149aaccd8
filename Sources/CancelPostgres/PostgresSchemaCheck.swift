import CancelQueue
import Foundation
import PostgresNIO

/// Whether the live schema still has what the migrations made: every trigger present and enabled,
/// every guard function with its text, every index; and no trigger or unique or partial index that
/// cancelq did not make on its tables (a unique index on `order_number WHERE state = 'pending'`
/// would crash-loop the daemon; a replaced guard function lets rows through). `run` refuses such a
/// schema, `status --check` reports it, `migrate` restores what it can.
extension PostgresQueue {
    /// What the migrations create, read from their own text.
    struct ExpectedSchema: Sendable {
        /// Read once: parsing the migrations' text costs milliseconds, and every scrape checks.
        static let ofThisBinary = ExpectedSchema(Migration.postgreSQL)

        var triggers: [String: String] = [:]  // name → table
        var indexes: [String: String] = [:]  // name → table
        var functions: [String: String] = [:]  // name → body between $$
        /// Functions that run with the owner's rights (`ALTER FUNCTION … SECURITY DEFINER`).
        var definers: Set<String> = []
        /// Functions no role but the owner may call (`REVOKE EXECUTE … FROM PUBLIC`).
        var ownerOnly: Set<String> = []
        /// Functions that resolve names in the queue's schema only (`SET search_path FROM CURRENT`
        /// after the migration set it to the queue's schema, then pg_temp).
        var pinned: Set<String> = []
        var statements: [String] = []
        var tables: Set<String> = []

        init(_ migrations: [Migration]) {
            for migration in migrations {
                for statement in SQLScript.statements(migration.sql) {
                    statements.append(statement)
                    if let match = statement.firstMatch(of: /^CREATE TRIGGER (\w+)\s.*?\sON (\w+)\s/.dotMatchesNewlines()) {
                        triggers[String(match.1)] = String(match.2)
                    } else if let match = statement.firstMatch(of: /^CREATE (?:UNIQUE )?INDEX (\w+) ON (\w+)/) {
                        indexes[String(match.1)] = String(match.2)
                    } else if let match = statement.firstMatch(of: /^DROP INDEX (\w+)/) {
                        indexes[String(match.1)] = nil
                    } else if let match = statement.firstMatch(of: /^CREATE (?:OR REPLACE )?FUNCTION (\w+)\([^)]*\).*?\$\$(.*)\$\$$/.dotMatchesNewlines()) {
                        // A later migration's CREATE OR REPLACE is the body expected now.
                        functions[String(match.1)] = String(match.2)
                    } else if let match = statement.firstMatch(of: /^CREATE TABLE (\w+)/) {
                        tables.insert(String(match.1))
                    } else if let match = statement.firstMatch(of: /^ALTER FUNCTION (\w+)\(/) {
                        if statement.contains(" SECURITY DEFINER") { definers.insert(String(match.1)) }
                        if statement.hasSuffix(" SET search_path FROM CURRENT") { pinned.insert(String(match.1)) }
                    } else if let match = statement.firstMatch(of: /^REVOKE EXECUTE ON FUNCTION (\w+)\(.*FROM PUBLIC$/.dotMatchesNewlines()) {
                        ownerOnly.insert(String(match.1))
                    }
                }
            }
        }

        /// The last statement creating it (a function a later migration replaced: the replacement).
        func statement(creating kind: String, _ name: String) -> String? {
            statements.last { statement in
                let unreplaced = statement.replacingOccurrences(of: "CREATE OR REPLACE ", with: "CREATE ", options: .anchored)
                let prefix = "CREATE \(kind) \(name)"
                guard unreplaced.hasPrefix(prefix), let next = unreplaced.dropFirst(prefix.count).first else { return false }
                return next.isWhitespace || next == "("
            }
        }
    }

    public func schemaProblems() async throws(StoreError) -> [String] {
        try await schemaFindings().map(\.problem)
    }

    struct SchemaFinding {
        let problem: String
        /// What restores it, when something can.
        /// The statements that restore it, when something can (none: the operator must act).
        let repairs: [String]

        init(problem: String, repair: String?) {
            self.problem = problem
            repairs = repair.map { [$0] } ?? []
        }

        init(problem: String, repairs: [String]) {
            self.problem = problem
            self.repairs = repairs
        }
    }

    func schemaFindings() async throws(StoreError) -> [SchemaFinding] {
        let expected = ExpectedSchema.ofThisBinary
        // Functions first: restoring a trigger needs its function.
        var findings = try await functionFindings(expected)
        var liveTriggers: [String: (table: String, enabled: Bool)] = [:]
        for row in try await session.rows(
            """
            SELECT t.tgname, c.relname, t.tgenabled <> 'D' FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace WHERE NOT t.tgisinternal AND n.nspname = current_schema()
            """)
        {
            liveTriggers[try row.value(0, as: String.self)] = (try row.value(1), try row.value(2))
        }
        for (name, table) in expected.triggers.sorted(by: { $0.key < $1.key }) {
            guard let live = liveTriggers[name] else {
                findings.append(.init(problem: "trigger \(name) on \(table) is missing", repair: expected.statement(creating: "TRIGGER", name)))
                continue
            }
            if !live.enabled {
                findings.append(.init(problem: "trigger \(name) on \(table) is disabled", repair: "ALTER TABLE \(table) ENABLE TRIGGER \(name)"))
            }
        }
        for (name, live) in liveTriggers.sorted(by: { $0.key < $1.key }) where expected.triggers[name] == nil && expected.tables.contains(live.table) {
            findings.append(.init(problem: "trigger \(name) on \(live.table) was not made by cancelq (drop it)", repair: nil))
        }
        var liveIndexes: [String: (table: String, definition: String)] = [:]
        for row in try await session.rows(
            """
            SELECT i.indexname, i.tablename, i.indexdef FROM pg_indexes i WHERE i.schemaname = current_schema()
            AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = format('%I.%I', i.schemaname, i.indexname)::regclass)
            """)
        {
            liveIndexes[try row.value(0, as: String.self)] = (try row.value(1), try row.value(2))
        }
        for (name, table) in expected.indexes.sorted(by: { $0.key < $1.key }) where liveIndexes[name] == nil {
            findings.append(.init(problem: "index \(name) on \(table) is missing", repair: expected.statement(creating: "INDEX", name)))
        }
        for (name, live) in liveIndexes.sorted(by: { $0.key < $1.key })
        where expected.indexes[name] == nil && expected.tables.contains(live.table)
            && (live.definition.hasPrefix("CREATE UNIQUE") || live.definition.contains(" WHERE "))
        {
            findings.append(.init(problem: "index \(name) on \(live.table) was not made by cancelq and can refuse the daemon's writes (drop it)", repair: nil))
        }
        return findings
    }

    /// Restores what the migrations made (`migrate` runs it); returns what it repaired and what remains.
    public func repairSchema() async throws(StoreError) -> (repaired: [String], remaining: [String]) {
        let findings = try await schemaFindings()
        var repaired: [String] = []
        var remaining: [String] = []
        for finding in findings {
            guard !finding.repairs.isEmpty else {
                remaining.append(finding.problem)
                continue
            }
            try await session.transaction { () async throws(StoreError) in
                for repair in finding.repairs { _ = try await session.rows(PostgresQuery(unsafeSQL: repair)) }
            }
            repaired.append(finding.problem)
        }
        return (repaired, remaining)
    }
}
