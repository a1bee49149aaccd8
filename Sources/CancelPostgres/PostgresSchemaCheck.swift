import CancelStore
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
        static let ofThisBinary = ExpectedSchema(Migrator.embeddedPostgreSQL)

        var triggers: [String: String] = [:]  // name → table
        var indexes: [String: String] = [:]  // name → table
        var functions: [String: String] = [:]  // name → body between $$
        /// Functions that run with the owner's rights (`ALTER FUNCTION … SECURITY DEFINER`).
        var definers: Set<String> = []
        /// Functions no role but the owner may call (`REVOKE EXECUTE … FROM PUBLIC`).
        var ownerOnly: Set<String> = []
        var statements: [String] = []
        var tables: Set<String> = []

        init(_ migrations: [Migrator.Migration]) {
            for migration in migrations {
                for statement in SQLScript.statements(migration.sql) {
                    statements.append(statement)
                    if let match = statement.firstMatch(of: /^CREATE TRIGGER (\w+)\s.*?\sON (\w+)\s/.dotMatchesNewlines()) {
                        triggers[String(match.1)] = String(match.2)
                    } else if let match = statement.firstMatch(of: /^CREATE (?:UNIQUE )?INDEX (\w+) ON (\w+)/) {
                        indexes[String(match.1)] = String(match.2)
                    } else if let match = statement.firstMatch(of: /^CREATE FUNCTION (\w+)\([^)]*\).*?\$\$(.*)\$\$$/.dotMatchesNewlines()) {
                        functions[String(match.1)] = String(match.2)
                    } else if let match = statement.firstMatch(of: /^CREATE TABLE (\w+)/) {
                        tables.insert(String(match.1))
                    } else if let match = statement.firstMatch(of: /^ALTER FUNCTION (\w+)\(\) SECURITY DEFINER/) {
                        definers.insert(String(match.1))
                    } else if let match = statement.firstMatch(of: /^REVOKE EXECUTE ON FUNCTION (\w+)\(.*FROM PUBLIC$/.dotMatchesNewlines()) {
                        ownerOnly.insert(String(match.1))
                    }
                }
            }
        }

        func statement(creating kind: String, _ name: String) -> String? {
            let prefix = "CREATE \(kind) \(name)"
            return statements.first { statement in
                guard statement.hasPrefix(prefix), let next = statement.dropFirst(prefix.count).first else { return false }
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
        var findings: [SchemaFinding] = []
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
        // Every function of that name: an overload beside cancelq's could be the one a call resolves to.
        var liveFunctions: [String: [String]] = [:]
        var attributes: [String: FunctionAttributes] = [:]
        for row in try await session.rows(
            """
            SELECT p.proname, p.prosrc, p.oid::regprocedure::text, p.prosecdef, coalesce(p.proconfig[1], ''),
                coalesce(array_length(p.proconfig, 1), 0), p.provolatile::text, p.proisstrict,
                has_function_privilege('public', p.oid, 'EXECUTE')
            FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = current_schema()
            """)
        {
            let name: String = try row.value(0)
            liveFunctions[name, default: []].append(try row.value(1))
            attributes[name] = FunctionAttributes(
                signature: try row.value(2), securityDefiner: try row.value(3), firstSetting: try row.value(4),
                settingCount: try row.value(5), volatility: try row.value(6), strict: try row.value(7), publicMayExecute: try row.value(8))
        }
        for name in expected.functions.keys.sorted() where liveFunctions[name]?.count == 1 {
            guard let live = attributes[name] else { continue }
            findings += live.findings(name: name, definer: expected.definers.contains(name), ownerOnly: expected.ownerOnly.contains(name))
        }
        for (name, body) in expected.functions.sorted(by: { $0.key < $1.key }) {
            let live = liveFunctions[name] ?? []
            if live.count > 1 {
                findings.append(.init(problem: "function \(name) has \(live.count - 1) overload(s) cancelq did not make (drop them)", repair: nil))
            } else if live != [body] {
                let create = expected.statement(creating: "FUNCTION", name).map {
                    $0.replacingOccurrences(of: "CREATE FUNCTION", with: "CREATE OR REPLACE FUNCTION")
                }
                findings.append(.init(problem: "function \(name) is \(live.isEmpty ? "missing" : "not the one cancelq made")", repair: create))
            }
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

/// How a function of cancelq's runs, beyond its text: an owner's `ALTER FUNCTION` can change what
/// it does (`SECURITY DEFINER` lets any caller write with the owner's rights; `SET search_path`
/// points its table names elsewhere; `STRICT` skips it on a NULL) without touching its body.
struct FunctionAttributes {
    let signature: String
    let securityDefiner: Bool
    let firstSetting: String
    let settingCount: Int
    let volatility: String
    let strict: Bool
    let publicMayExecute: Bool

    func findings(name: String, definer: Bool, ownerOnly: Bool) -> [PostgresQueue.SchemaFinding] {
        var found: [PostgresQueue.SchemaFinding] = []
        let settingsRight = definer ? settingCount == 1 && firstSetting.hasPrefix("search_path=") : settingCount == 0
        if securityDefiner != definer || !settingsRight || volatility != "v" || strict {
            var repairs = ["ALTER FUNCTION \(signature) CALLED ON NULL INPUT VOLATILE SECURITY \(definer ? "DEFINER" : "INVOKER") RESET ALL"]
            if definer { repairs.append("ALTER FUNCTION \(signature) SET search_path FROM CURRENT") }
            found.append(.init(problem: "function \(name) does not run as cancelq made it (its security, settings, volatility or strictness were altered)", repairs: repairs))
        }
        if ownerOnly && publicMayExecute {
            found.append(.init(problem: "function \(name) may be called by every role", repairs: ["REVOKE EXECUTE ON FUNCTION \(signature) FROM PUBLIC"]))
        }
        return found
    }
}
