import CancelQueue
import Foundation
import PostgresNIO

/// The schema check's part about functions: each of cancelq's with its text, its rights, its
/// settings and who may call it, and no overload beside it.
extension PostgresQueue {
    /// The search_path setting of every function that names a table: the queue's schema, then
    /// pg_temp. Without pg_temp named, a function searches it first, and any session's temporary
    /// table of the same name would take the function's reads and writes.
    static func pinnedSearchPath(schema quotedSchema: String) -> String { "\(quotedSchema), pg_temp" }

    func functionFindings(_ expected: ExpectedSchema) async throws(StoreError) -> [SchemaFinding] {
        var findings: [SchemaFinding] = []
        let quotedSchema: String = try await session.rows("SELECT quote_ident(current_schema())").first?.value(0) ?? "public"
        let searchPath = Self.pinnedSearchPath(schema: quotedSchema)
        // Every function of that name: an overload beside cancelq's could be the one a call resolves to.
        var liveFunctions: [String: [String]] = [:]
        var attributes: [String: FunctionAttributes] = [:]
        for row in try await session.rows(
            """
            SELECT p.proname, p.prosrc, p.oid::regprocedure::text, p.prosecdef, coalesce(p.proconfig, '{}'::text[]),
                p.provolatile::text, p.proisstrict, has_function_privilege('public', p.oid, 'EXECUTE')
            FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = current_schema()
            """)
        {
            let name: String = try row.value(0)
            liveFunctions[name, default: []].append(try row.value(1))
            attributes[name] = FunctionAttributes(
                signature: try row.value(2), securityDefiner: try row.value(3), settings: try row.value(4),
                volatility: try row.value(5), strict: try row.value(6), publicMayExecute: try row.value(7))
        }
        func intended(_ name: String) -> FunctionAttributes.Intended {
            .init(
                definer: expected.definers.contains(name), ownerOnly: expected.ownerOnly.contains(name),
                searchPath: expected.pinned.contains(name) ? searchPath : nil)
        }
        // A function whose text is wrong is restored whole, rights and settings included (below).
        for (name, body) in expected.functions.sorted(by: { $0.key < $1.key }) where liveFunctions[name] == [body] {
            guard let live = attributes[name] else { continue }
            findings += live.findings(name: name, intended: intended(name))
        }
        for (name, body) in expected.functions.sorted(by: { $0.key < $1.key }) {
            let live = liveFunctions[name] ?? []
            if live.count > 1 {
                findings.append(.init(problem: "function \(name) has \(live.count - 1) overload(s) cancelq did not make (drop them)", repair: nil))
            } else if live != [body], let create = expected.statement(creating: "FUNCTION", name) {
                // CREATE OR REPLACE resets the rights and settings (and a new function may be called
                // by every role): they are restored with it. The name alone is unique here.
                let replace = create.replacingOccurrences(of: "CREATE FUNCTION", with: "CREATE OR REPLACE FUNCTION", options: .anchored)
                findings.append(
                    .init(
                        problem: "function \(name) is \(live.isEmpty ? "missing" : "not the one cancelq made")",
                        repairs: [replace] + intended(name).repairs(of: name)))
            }
        }
        return findings
    }
}

/// How a function of cancelq's runs, beyond its text: an owner's `ALTER FUNCTION` can change what
/// it does (`SECURITY DEFINER` lets any caller write with the owner's rights; `SET search_path`
/// points its table names elsewhere, or lets pg_temp come first; `STRICT` skips it on a NULL)
/// without touching its body.
struct FunctionAttributes {
    let signature: String
    let securityDefiner: Bool
    let settings: [String]
    let volatility: String
    let strict: Bool
    let publicMayExecute: Bool

    /// What the migrations made of it.
    struct Intended {
        let definer: Bool
        let ownerOnly: Bool
        /// The one setting it has, `search_path`, or none.
        let searchPath: String?

        var settings: [String] { searchPath.map { ["search_path=\($0)"] } ?? [] }

        /// The statements that make `function` (a signature, or a name that is unique) run so, and
        /// with `callers`, callable by the owner only where it should be.
        func repairs(of function: String, callers: Bool = true) -> [String] {
            var repairs = ["ALTER FUNCTION \(function) CALLED ON NULL INPUT VOLATILE SECURITY \(definer ? "DEFINER" : "INVOKER") RESET ALL"]
            if let searchPath { repairs.append("ALTER FUNCTION \(function) SET search_path = \(searchPath)") }
            if ownerOnly && callers { repairs.append("REVOKE EXECUTE ON FUNCTION \(function) FROM PUBLIC") }
            return repairs
        }
    }

    func findings(name: String, intended: Intended) -> [PostgresQueue.SchemaFinding] {
        var found: [PostgresQueue.SchemaFinding] = []
        if securityDefiner != intended.definer || settings != intended.settings || volatility != "v" || strict {
            found.append(
                .init(
                    problem: "function \(name) does not run as cancelq made it (its security, settings, volatility or strictness were altered)",
                    repairs: intended.repairs(of: signature, callers: false)))
        }
        if intended.ownerOnly && publicMayExecute {
            found.append(.init(problem: "function \(name) may be called by every role", repairs: ["REVOKE EXECUTE ON FUNCTION \(signature) FROM PUBLIC"]))
        }
        return found
    }
}
