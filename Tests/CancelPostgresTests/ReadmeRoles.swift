import Foundation
import Logging
import TestSupport

@testable import CancelPostgres

/// A fresh database set up exactly as README "Roles and grants" says, its SQL run as written: the
/// first part as the server's superuser, `cancelq migrate` as the daemons' role, the grants after
/// it as that role. Only the names change (roles are the server's, shared by every test): the
/// daemons' role and its schema `cancelq`, the application's role `shop_app`, the database `shop`.
struct ReadmeRoles {
    let server: PostgresServer
    let database: String
    let daemonRole: String
    let applicationRole: String
    /// The queue's schema: the README names it after the daemons' role.
    var schema: String { daemonRole }

    static let readme: String = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return (try? String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)) ?? ""
    }()

    /// The README's SQL block under "Roles and grants", split where it says to run `migrate`.
    static func readmeSQL() throws -> (beforeMigrate: String, afterMigrate: String) {
        guard let heading = readme.range(of: "### Roles and grants"),
            let open = readme.range(of: "```sql\n", range: heading.upperBound..<readme.endIndex),
            let close = readme.range(of: "\n```", range: open.upperBound..<readme.endIndex)
        else { throw TestFailure("README has no SQL block under \"Roles and grants\"") }
        let block = String(readme[open.upperBound..<close.lowerBound])
        guard let split = block.range(of: "\n-- after `cancelq migrate`") else { throw TestFailure("the block does not say where migrate runs") }
        return (String(block[..<split.lowerBound]), String(block[split.lowerBound...]))
    }

    static func with<T>(_ body: (ReadmeRoles) async throws -> T) async throws -> T {
        let server = try PostgresServer.shared()
        let suffix = UUID().uuidString.prefix(8).lowercased()
        let roles = ReadmeRoles(
            server: server, database: PostgresServer.databaseName(try server.createDatabase()), daemonRole: "cq_\(suffix)",
            applicationRole: "app_\(suffix)")
        defer {
            _ = try? server.psql("postgres", "DROP DATABASE IF EXISTS \(roles.database) WITH (FORCE)")
            _ = try? server.psql("postgres", "DROP ROLE IF EXISTS \(roles.applicationRole)")
            _ = try? server.psql("postgres", "DROP ROLE IF EXISTS \(roles.daemonRole)")
        }
        let sql = try readmeSQL()
        try server.psql(roles.database, roles.renamed(sql.beforeMigrate))
        let migrating = roles.daemonQueue(node: "migrate")
        try await migrating.migrate()
        await migrating.close()
        let grants = try roles.run(as: roles.daemonRole, [roles.renamed(sql.afterMigrate)])
        guard grants.status == 0, !grants.output.contains("ERROR") else { throw TestFailure("the README's grants failed: \(grants.output)") }
        return try await body(roles)
    }

    func renamed(_ sql: String) -> String {
        sql.replacing(/\bshop_app\b/, with: applicationRole).replacing(/\bshop\b/, with: database)
            .replacing(/\bcancelq\b/, with: daemonRole)
    }

    func url(as role: String) -> String { server.url(database: database, user: role) }

    /// A queue as a daemon with the README's role uses it (not yet opened).
    func daemonQueue(node: String) -> PostgresQueue {
        PostgresQueue(
            location: try! PostgresLocation(url: url(as: daemonRole), defaultUser: daemonRole), node: node,
            logger: Logger(label: "test.\(node)"), rescueSettling: 0)
    }

    /// Statements through psql in ONE session of `role`, each on its own (an error does not stop
    /// the next); the output has every result and every error.
    func run(as role: String, _ statements: [String]) throws -> (status: Int32, output: String) {
        try runProgram(
            PostgresServer.binDirectory! + "/psql",
            ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=0", "-h", "127.0.0.1", "-p", "\(server.port)", "-U", role, "-d", database]
                + statements.flatMap { ["-c", $0] })
    }

    func asApplication(_ statements: String...) throws -> (status: Int32, output: String) {
        try run(as: applicationRole, statements)
    }

    /// SQL as the server's superuser in the queue's schema, for the test's own setup and reads.
    @discardableResult
    func superuser(_ sql: String) throws -> String { try server.psql(database, "SET search_path = \(schema); " + sql) }
}
