import CancelQueue
import CancelStore
import Logging
import TestSupport

@testable import CancelPostgres

/// A fresh database on the test process's PostgreSQL server, migrated, with queues opened on it
/// as daemons named `node-1`, `node-2`, … would. Closes what it opened.
struct PostgresTestDatabase {
    let server: PostgresServer
    let url: String

    static func with<T>(_ body: (PostgresTestDatabase) async throws -> T) async throws -> T {
        let server = try PostgresServer.shared()
        let database = PostgresTestDatabase(server: server, url: try server.createDatabase())
        let migrating = try database.queue(node: "migrate")
        try await migrating.migrate()
        await migrating.close()
        let result = try await body(database)
        _ = try? server.psql("postgres", "DROP DATABASE IF EXISTS \(PostgresServer.databaseName(database.url)) WITH (FORCE)")
        return result
    }

    var location: PostgresLocation { try! PostgresLocation(url: url, defaultUser: "postgres") }

    /// A queue as the daemon `node` uses it (not yet opened: the first query connects).
    /// No rescue settling unless asked: the tests mark daemons dead by hand.
    func queue(node: String, requestTimeout: Double = 30, rescueSettling: Double = 0) throws -> PostgresQueue {
        PostgresQueue(
            location: location, node: node, requestTimeout: requestTimeout, logger: Logger(label: "test.\(node)"),
            rescueSettling: rescueSettling)
    }

    /// Opened queues for each body, closed after it.
    func withQueues<T>(_ nodes: [String], _ body: ([PostgresQueue]) async throws -> T) async throws -> T {
        let queues = try nodes.map { try queue(node: $0) }
        do {
            let result = try await body(queues)
            for queue in queues { await queue.close() }
            return result
        } catch {
            for queue in queues { await queue.close() }
            throw error
        }
    }

    /// SQL as another client (an application, an operator) would run it.
    @discardableResult
    func psql(_ sql: String) throws -> String { try server.psql(url: url, sql) }
}
